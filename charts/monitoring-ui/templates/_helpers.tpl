{{- define "mui.fullname" -}}
{{- if eq .Release.Name "monitoring-ui" -}}monitoring-ui{{- else -}}{{ printf "%s-monitoring-ui" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "mui.selectorLabels" -}}
app.kubernetes.io/name: monitoring-ui
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mui.labels" -}}
{{ include "mui.selectorLabels" . }}
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mui.image" -}}
{{- $name := required (printf "images has no entry %q" .Values.image.stage) (index .Values.images .Values.image.stage) -}}
{{- $registry := .Values.image.registry | default .Values.registry -}}
{{- $tag := .Values.image.tag | default .Values.tag | toString -}}
{{- if eq $tag "latest" }}{{ fail "image tag latest is not allowed" }}{{ end -}}
{{- printf "%s/%s:%s" $registry $name $tag -}}
{{- end -}}
