package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// recordSteps are applied with the real kubectl, in order, against a
// cluster whose webhooks are served by a recording do-nothing webhook.
// Each review of package reviews is the first request seen for its key.
var recordSteps = []struct {
	what  string
	stdin func() string
	args  []string
}{
	{"fixtures", func() string { return string(reviews.Fixtures()) }, []string{"apply", "-f", "-"}},
	// A chart upgrade: new image and chart label on the StatefulSet and
	// its Service.
	{"upgrade", func() string {
		return strings.NewReplacer("postgresql:17.2.0", "postgresql:17.3.0", "postgresql-16.4.5", "postgresql-16.4.6").Replace(string(reviews.Fixtures()))
	}, []string{"apply", "-f", "-"}},
	{"statefulset on a client Service", func() string { return deniedStatefulSet }, []string{"apply", "-f", "-"}},
	{"deployment with a subdomain", func() string { return subdomainDeployment }, []string{"apply", "-f", "-"}},
	{"service with an unnamed port", func() string { return unnamedPortService }, []string{"apply", "-f", "-"}},
	{"delete the governing service", nil, []string{"delete", "-n", reviews.Namespace, "service", "db"}},
	// The minimal reviews: `kubectl create` adds no last-applied
	// annotation; record cuts managedFields out.
	{"seed 000, created", func() string { return minimalObjects }, []string{"create", "-f", "-"}},
}

// recordKeys maps each review to the request it is: path, operation, kind
// and object name.
var recordKeys = map[string]string{
	"service-create-validate":            "/validate/services CREATE Service db",
	"statefulset-create-mutate":          "/mutate/statefulsets CREATE StatefulSet db",
	"statefulset-create-validate":        "/validate/statefulsets CREATE StatefulSet db",
	"statefulset-update-validate":        "/validate/statefulsets UPDATE StatefulSet db",
	"service-update-validate":            "/validate/services UPDATE Service db",
	"statefulset-create-denied-validate": "/validate/statefulsets CREATE StatefulSet cache",
	"deployment-create-validate":         "/validate/workloads CREATE Deployment api",
	"service-create-mutate":              "/mutate/services CREATE Service metrics",
	"service-delete-validate":            "/validate/services DELETE Service db",
	"min-statefulset-create-validate":    "/validate/statefulsets CREATE StatefulSet web",
	"min-statefulset-create-mutate":      "/mutate/statefulsets CREATE StatefulSet web",
	"min-service-create-validate":        "/validate/services CREATE Service nginx",
	"min-service-create-mutate":          "/mutate/services CREATE Service nginx-unnamed",
	"min-pod-create-validate":            "/validate/workloads CREATE Pod web-pod",
}

// minimalObjects are seed 000's StatefulSet and Service (the Service
// renamed: fixtures.yaml holds nginx-headless), the same Service with an
// unnamed port (the only Services the mutating webhook is sent), and a
// Pod asking for a subdomain (the only Pods the workloads webhook is sent).
const minimalObjects = `apiVersion: v1
kind: Service
metadata:
  name: nginx
  namespace: bench
  labels:
    app: nginx
spec:
  ports:
    - name: web
      port: 80
  selector:
    app: nginx
  clusterIP: None
---
apiVersion: v1
kind: Service
metadata:
  name: nginx-unnamed
  namespace: bench
  labels:
    app: nginx
spec:
  ports:
    - port: 80
  selector:
    app: nginx
  clusterIP: None
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: bench
spec:
  serviceName: nginx-headless
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
        ports:
        - containerPort: 80
          name: web
      imagePullSecrets:
        - name: default-secret
---
apiVersion: v1
kind: Pod
metadata:
  name: web-pod
  namespace: bench
  labels:
    app: nginx
spec:
  subdomain: nginx-headless
  containers:
  - name: nginx
    image: nginx:alpine
    ports:
    - containerPort: 80
      name: web
`

const deniedStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: cache
  namespace: bench
  labels:
    app.kubernetes.io/name: web
spec:
  serviceName: web
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: web
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - name: http
              containerPort: 8080
`

const subdomainDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: bench
  labels:
    app.kubernetes.io/name: api
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: api
  template:
    metadata:
      labels:
        app.kubernetes.io/name: api
    spec:
      subdomain: api
      containers:
        - name: api
          image: ghcr.io/example/api:2.4.1
          args: ["--listen=:9090"]
          ports:
            - name: grpc
              containerPort: 9090
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
`

const unnamedPortService = `apiVersion: v1
kind: Service
metadata:
  name: metrics
  namespace: bench
spec:
  clusterIP: None
  selector:
    app.kubernetes.io/name: postgresql
    app.kubernetes.io/instance: db
  ports:
    - port: 9187
      targetPort: 9187
`

// record starts a cluster whose webhooks are served by a recording
// do-nothing webhook, applies recordSteps with kubectl and writes one file
// per review into dir.
func record(ctx context.Context, dir string) error {
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		return err
	}
	defer c.Stop()

	var mu sync.Mutex
	seen := map[string][]byte{}
	nopCtx, stopNop := context.WithCancel(ctx)
	defer stopNop()
	go func() {
		_ = load.ServeNop(nopCtx, load.NopOptions{
			Host: "127.0.0.1", Port: c.WebhookPort(), CertDir: c.WebhookCertDir(),
			Record: func(path string, body []byte) {
				var r struct {
					Request struct {
						Operation string `json:"operation"`
						Name      string `json:"name"`
						Kind      struct {
							Kind string `json:"kind"`
						} `json:"kind"`
					} `json:"request"`
				}
				if json.Unmarshal(body, &r) != nil {
					return
				}
				key := fmt.Sprintf("%s %s %s %s", path, r.Request.Operation, r.Request.Kind.Kind, r.Request.Name)
				mu.Lock()
				defer mu.Unlock()
				if _, ok := seen[key]; !ok {
					seen[key] = body
				}
			},
		})
	}()
	if err := waitTLS(ctx, c.WebhookPort(), 30*time.Second); err != nil {
		return err
	}
	for _, s := range recordSteps {
		var stdin []byte
		if s.stdin != nil {
			stdin = []byte(s.stdin())
		}
		if _, _, err := c.Kubectl(ctx, stdin, s.args...); err != nil {
			return fmt.Errorf("step %q: %w", s.what, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range reviews.Names() {
		key := recordKeys[name]
		body, ok := seen[key]
		if !ok {
			var got []string
			for k := range seen {
				got = append(got, k)
			}
			return fmt.Errorf("no request %q was recorded for %s; recorded: %q", key, name, got)
		}
		if !strings.HasPrefix(key, reviews.PathOf(name)+" ") {
			return fmt.Errorf("review %s: recorded on %s, package reviews expects %s", name, key, reviews.PathOf(name))
		}
		if strings.HasPrefix(name, reviews.MinimalPrefix) {
			if body, err = cutManagedFields(body); err != nil {
				return fmt.Errorf("review %s: %w", name, err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), append(body, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("recorded %-36s %6d bytes  (%s)\n", name, len(body), key)
	}
	return nil
}

// cutManagedFields removes the object's metadata.managedFields from a
// review, leaving every other byte as the API server sent it.
func cutManagedFields(body []byte) ([]byte, error) {
	key := []byte(`"managedFields":`)
	i := bytes.Index(body, key)
	if i < 0 {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body[i+len(key):]))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("managedFields: %w", err)
	}
	end := i + len(key) + int(dec.InputOffset())
	switch {
	case end < len(body) && body[end] == ',':
		end++ // the member after it keeps its place
	case i > 0 && body[i-1] == ',':
		i-- // it was the last member
	}
	out := append(bytes.Clone(body[:i]), body[end:]...)
	if bytes.Contains(out, key) {
		return cutManagedFields(out)
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("cutting managedFields left invalid JSON")
	}
	return out, nil
}
