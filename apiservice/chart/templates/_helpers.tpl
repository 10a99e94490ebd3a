{{- define "postgres-apiserver.labels" -}}
app.kubernetes.io/name: postgres-apiserver
{{- end }}

{{/* The ServiceAccount, as RBAC subjects. */}}
{{- define "postgres-apiserver.subjects" -}}
subjects:
  - kind: ServiceAccount
    name: postgres-apiserver
    namespace: {{ .Release.Namespace }}
{{- end }}

{{/* caBundle as the APIService wants it: base64, whether the value is the PEM itself or its base64. */}}
{{- define "postgres-apiserver.caBundle" -}}
{{- if contains "-----BEGIN" .Values.caBundle }}{{ .Values.caBundle | b64enc }}{{ else }}{{ .Values.caBundle | trim }}{{ end }}
{{- end }}
