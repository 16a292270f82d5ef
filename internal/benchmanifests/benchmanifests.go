package benchmanifests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes about n documents to w, in groups of five: a headless
// Service, a StatefulSet, a Deployment, a Service and a ConfigMap. Every
// tenth StatefulSet names a Service that does not exist.
func Write(w io.Writer, n, offset int) error {
	for i := 0; i < n; i += 5 {
		id := offset + i/5
		serviceName := fmt.Sprintf("db-%d", id)
		if id%10 == 9 {
			serviceName = fmt.Sprintf("missing-%d", id)
		}
		if _, err := fmt.Fprintf(w, group, id, serviceName); err != nil {
			return err
		}
	}
	return nil
}

// WriteDir writes n documents into files of perFile documents under dir.
func WriteDir(dir string, n, perFile int) error {
	for f := 0; f*perFile < n; f++ {
		count := min(perFile, n-f*perFile)
		path := filepath.Join(dir, fmt.Sprintf("app-%05d.yaml", f))
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := Write(out, count, f*perFile/5); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	return nil
}

// WriteUnits writes n documents into units directories under dir, each a
// kustomization (its kustomization.yaml lists its files) holding an equal
// share in files of perFile documents: a repository of many applications,
// which the checker checks one unit at a time.
func WriteUnits(dir string, n, perFile, units int) error {
	per := (n + units - 1) / units
	for u := 0; u*per < n; u++ {
		count := min(per, n-u*per)
		udir := filepath.Join(dir, fmt.Sprintf("app-%04d", u))
		if err := os.MkdirAll(udir, 0o755); err != nil {
			return err
		}
		kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
		for f := 0; f*perFile < count; f++ {
			name := fmt.Sprintf("app-%05d.yaml", f)
			kust += "  - " + name + "\n"
			out, err := os.Create(filepath.Join(udir, name))
			if err != nil {
				return err
			}
			// Group ids stay unique across units, as WriteDir's across files.
			if err := Write(out, min(perFile, count-f*perFile), (u*per+f*perFile)/5); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(udir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// group is five documents; %[1]d is the group id, %[2]s the serviceName.
const group = `---
# Source: app/templates/db-service.yaml
apiVersion: v1
kind: Service
metadata:
  name: db-%[1]d
  labels:
    app.kubernetes.io/name: db-%[1]d
    app.kubernetes.io/component: database
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app.kubernetes.io/name: db-%[1]d
  ports:
    - name: postgres
      port: 5432
      targetPort: postgres
---
# Source: app/templates/db-statefulset.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db-%[1]d
  labels:
    app.kubernetes.io/name: db-%[1]d
spec:
  serviceName: %[2]s
  replicas: 3
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      app.kubernetes.io/name: db-%[1]d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: db-%[1]d
        app.kubernetes.io/component: database
    spec:
      containers:
        - name: postgres
          image: postgres:17
          ports:
            - name: postgres
              containerPort: 5432
          env:
            - name: POSTGRES_DB
              value: app
          resources:
            requests:
              cpu: 250m
              memory: 512Mi
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: 10Gi
---
# Source: app/templates/web-deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-%[1]d
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: web-%[1]d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web-%[1]d
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - name: http
              containerPort: 8080
---
# Source: app/templates/web-service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web-%[1]d
spec:
  selector:
    app.kubernetes.io/name: web-%[1]d
  ports:
    - name: http
      port: 80
      targetPort: http
---
# Source: app/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-%[1]d-config
data:
  LOG_LEVEL: info
  DATABASE_URL: postgres://db-%[1]d-0.db-%[1]d:5432/app
`
