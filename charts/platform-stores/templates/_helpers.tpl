{{- define "stores.labels" -}}
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "stores.stageImage" -}}
{{- $ctx := index . 0 -}}{{- $stage := index . 1 -}}
{{- $name := required (printf "images has no entry %q" $stage) (index $ctx.Values.images $stage) -}}
{{- $tag := $ctx.Values.tag | toString -}}
{{- if eq $tag "latest" }}{{ fail "image tag latest is not allowed" }}{{ end -}}
{{- printf "%s/%s:%s" $ctx.Values.registry $name $tag -}}
{{- end -}}
