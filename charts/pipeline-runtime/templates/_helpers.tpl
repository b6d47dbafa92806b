{{- define "pr.labels" -}}
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/component: pipeline-runtime
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
