package cluster

// DatabaseCRD is the custom resource definition of the operator-shaped
// clients in test/controllers and test/e2e: a namespaced Database that owns
// its StatefulSet and Service, as an operator's custom resource does.
const DatabaseCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: databases.ops.test.headless-guard.io
spec:
  group: ops.test.headless-guard.io
  names: {kind: Database, listKind: DatabaseList, plural: databases, singular: database}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`
