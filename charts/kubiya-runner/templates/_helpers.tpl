{{- define "kubiya-runner.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kubiya-runner.selectorLabels" -}}
app: kubiya-runner
app.kubernetes.io/name: kubiya-runner
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kubiya-runner.labels" -}}
{{ include "kubiya-runner.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubiya-runner.tokenSecret" -}}
{{- default (printf "%s-token" (include "kubiya-runner.fullname" .)) .Values.runner.existingSecret -}}
{{- end -}}
