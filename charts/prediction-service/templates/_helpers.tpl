{{- define "ps.name" -}}prediction-service{{- end -}}

{{/* The model this release serves (its folder's and its registered model's name). */}}
{{- define "ps.model" -}}{{ .Values.model.name }}{{- end -}}

{{/* prediction-service-<model>: every object of a release is named for its model, so the
releases of several models live in one namespace. Longer than 55 characters: cut, with a
hash of the whole name (room for the "-migrate" suffix within 63). */}}
{{- define "ps.fullname" -}}
{{- $name := printf "prediction-service-%s" .Values.model.name -}}
{{- if gt (len $name) 55 -}}
{{- printf "%s-%s" (trunc 46 $name | trimSuffix "-") (sha256sum $name | trunc 8) -}}
{{- else -}}
{{- $name -}}
{{- end -}}
{{- end -}}

{{- define "ps.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ps.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
mlops.platform/model: {{ include "ps.model" . }}
{{- end -}}

{{- define "ps.labels" -}}
{{ include "ps.selectorLabels" . }}
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* registry/name:tag of this chart's stage image, from the images list. */}}
{{- define "ps.image" -}}
{{- $name := required (printf "images has no entry %q" .Values.image.stage) (index .Values.images .Values.image.stage) -}}
{{- $registry := .Values.image.registry | default .Values.registry -}}
{{- $tag := .Values.image.tag | default .Values.tag | toString -}}
{{- if eq $tag "latest" }}{{ fail "image tag latest is not allowed" }}{{ end -}}
{{- printf "%s/%s:%s" $registry $name $tag -}}
{{- end -}}

{{- define "ps.modelUri" -}}
{{- printf "models:/%s/%s" .Values.model.name (toString .Values.model.version) -}}
{{- end -}}

{{/* Environment shared by the server and its migration job. */}}
{{- define "ps.env" -}}
- name: MLOPS_PREDICTION_LOG_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.predictionLog }}
      key: url
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.s3 }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.s3 }}
      key: AWS_SECRET_ACCESS_KEY
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The uid of the model's Grafana dashboard: mlops-<model>, longer than the 40
characters Grafana allows: cut, with a hash of the whole uid (mlops_core.dashboards
computes the same). */}}
{{- define "ps.dashboardUid" -}}
{{- $uid := printf "mlops-%s" .Values.model.name -}}
{{- if gt (len $uid) 40 -}}
{{- printf "%s-%s" (trunc 31 $uid) (sha256sum $uid | trunc 8) -}}
{{- else -}}
{{- $uid -}}
{{- end -}}
{{- end -}}
