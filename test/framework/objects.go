package framework

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// ServiceYAML and StatefulSetYAML are manifests for one namespace: a
// headless Service (with extra lines appended to its spec) and its
// StatefulSet.
func ServiceYAML(name string, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  clusterIP: None
  selector:
    app: %[1]s
  ports:
  - name: web
    port: 80
%[2]s`, name, extra)
}

// StatefulSetYAML is a StatefulSet of three nginx pods labelled app=name,
// governed by serviceName, with annotations (indented metadata lines).
func StatefulSetYAML(name, serviceName, annotations string) string {
	// The app finds its peers by their per-pod names, so a missing or
	// non-headless Service is a certain mistake that the default policy
	// denies, as the tests built on this StatefulSet expect.
	env := ""
	if serviceName != "" {
		env = fmt.Sprintf("        env:\n        - name: PEERS\n          value: %s-0.%s:80\n", name, serviceName)
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
%[3]sspec:
  serviceName: %[2]q
  replicas: 3
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
%[4]s        ports:
        - containerPort: 80
          name: web
`, name, serviceName, annotations, env)
}

// RuntimeRaw is yamlDoc as the raw JSON of an object in an AdmissionReview.
func RuntimeRaw(t *testing.T, yamlDoc string) runtime.RawExtension {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(yamlDoc))
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: data}
}
