{{/*
Labels of every object: the ones deploy/ has always carried and, unless
helmLabels is false (the kustomize base), Helm's.
*/}}
{{- define "headless-guard.labels" -}}
app.kubernetes.io/name: headless-guard
app.kubernetes.io/part-of: headless-guard
{{- if .Values.helmLabels }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- end }}

{{/* The replicas' labels; the Deployment's selector, which never changes. */}}
{{- define "headless-guard.selectorLabels" -}}
app.kubernetes.io/name: headless-guard
app.kubernetes.io/component: webhook
{{- end }}

{{- define "headless-guard.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* The Secret the server's certificate is read from (or written to). */}}
{{- define "headless-guard.certSecret" -}}
{{- if eq .Values.certificates.mode "secret" -}}
{{ required "certificates.secret.name is required with certificates.mode secret" .Values.certificates.secret.name }}
{{- else -}}
headless-guard-webhook-cert
{{- end }}
{{- end }}

{{/*
The namespaces every webhook leaves alone, as a YAML flow list.
*/}}
{{- define "headless-guard.excludedNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace -}}
{{- if eq .Values.certificates.mode "cert-manager" -}}
{{- $ns = append $ns .Values.certificates.certManager.namespace -}}
{{- end -}}
{{- $ns = concat $ns .Values.excludedNamespaces | uniq -}}
[{{ range $i, $n := $ns }}{{ if $i }}, {{ end }}{{ $n | quote }}{{ end }}]
{{- end }}

{{/*
clientConfig of one webhook; the argument is (list $ path).
*/}}
{{- define "headless-guard.clientConfig" -}}
{{- $ := index . 0 -}}
{{- $path := index . 1 -}}
clientConfig:
{{- if $.Values.webhooks.url }}
  url: {{ printf "%s%s" (trimSuffix "/" $.Values.webhooks.url) $path | quote }}
{{- else }}
  service:
    name: headless-guard-webhook
    namespace: {{ $.Release.Namespace }}
    path: {{ $path }}
{{- end }}
{{- if eq $.Values.certificates.mode "secret" }}
  caBundle: {{ required "certificates.secret.caBundle (base64 PEM of the CA that signed the Secret's certificate) is required with certificates.mode secret" $.Values.certificates.secret.caBundle }}
{{- end }}
{{- end }}

{{/*
What inject-service needs: create the missing headless Service of a stored
StatefulSet, owned by it; it never changes or deletes one (the garbage
collector does, with its StatefulSet). The ownerReference sets
blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
admission plugin allows only to whoever may update the owner's
finalizers. The ValidatingAdmissionPolicy headless-guard-self lets it
create only headless, StatefulSet-owned, managed-by-labelled Services.
*/}}
{{- define "headless-guard.injectRules" -}}
- apiGroups: [""]
  resources: ["services"]
  verbs: ["create"]
- apiGroups: ["apps"]
  resources: ["statefulsets/finalizers"]
  verbs: ["update"]
{{- end }}
