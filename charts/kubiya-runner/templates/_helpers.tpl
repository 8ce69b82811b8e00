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

{{- /*
kubiya-runner.checkDuration (list PATH VALUE MIN MAX): fails the render unless VALUE is a duration
the runner accepts within [MIN, MAX] seconds — the runner's one grammar and bounds
(src/config/units.ts parseDuration). The values schema checks the grammar, zero and numeric bounds;
this checks the upper bound of the string form, which a pattern cannot. Digit runs are stripped of
leading zeros and bounded in length before atoi (which would read an overflow as 0).
*/}}
{{- define "kubiya-runner.checkDuration" -}}
{{- $path := index . 0 -}}
{{- $v := index . 1 -}}
{{- $min := int64 (index . 2) -}}
{{- $max := int64 (index . 3) -}}
{{- $grammar := "^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$" -}}
{{- $bounds := printf "%s: must be between %d and %d seconds" $path $min $max -}}
{{- if kindIs "string" $v -}}
  {{- if or (eq $v "") (gt (len $v) 32) (not (regexMatch $grammar $v)) -}}
    {{- fail (printf "%s: must be a duration such as 30s, 5m or 1h30m (whole numbers, lower-case h/m/s, in that order) or a number of seconds" $path) -}}
  {{- end -}}
  {{- $seconds := int64 0 -}}
  {{- range $i, $unit := list 3600 60 1 -}}
    {{- $digits := regexReplaceAll "^0+" (regexReplaceAll $grammar $v (printf "${%d}" (add1 $i))) "" -}}
    {{- if gt (len $digits) 12 -}}{{- fail $bounds -}}{{- end -}}
    {{- $seconds = add $seconds (mul (atoi (default "0" $digits)) $unit) -}}
  {{- end -}}
  {{- if or (lt (int64 $seconds) $min) (gt (int64 $seconds) $max) -}}{{- fail $bounds -}}{{- end -}}
{{- else if or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v) -}}
  {{- if or (ne (float64 $v) (floor $v)) (eq (toString $v) "-0") -}}
    {{- fail (printf "%s: must be a whole number of seconds" $path) -}}
  {{- end -}}
  {{- if or (lt (float64 $v) (float64 $min)) (gt (float64 $v) (float64 $max)) -}}{{- fail $bounds -}}{{- end -}}
{{- else if not (kindIs "invalid" $v) -}}
  {{- fail (printf "%s: must be a duration string or a number of seconds" $path) -}}
{{- end -}}
{{- end -}}

{{- /* Every duration the chart passes to the runner, with the runner's bounds for it (src/config/schema.ts). */}}
{{- define "kubiya-runner.checkDurations" -}}
{{- $any := 2147483647 -}}
{{- include "kubiya-runner.checkDuration" (list "runner.workflow.defaultTimeout" .Values.runner.workflow.defaultTimeout 1 604800) -}}
{{- include "kubiya-runner.checkDuration" (list "runner.workflow.failFastGrace" .Values.runner.workflow.failFastGrace 0 $any) -}}
{{- include "kubiya-runner.checkDuration" (list "runner.workflow.ttlAfterFinished" .Values.runner.workflow.ttlAfterFinished 0 $any) -}}
{{- include "kubiya-runner.checkDuration" (list "controlPlane.maxTokenAge" .Values.controlPlane.maxTokenAge 1 $any) -}}
{{- include "kubiya-runner.checkDuration" (list "controlPlane.jwksStaleIfError" .Values.controlPlane.jwksStaleIfError 0 86400) -}}
{{- include "kubiya-runner.checkDuration" (list "policy.service.pollInterval" .Values.policy.service.pollInterval 1 $any) -}}
{{- include "kubiya-runner.checkDuration" (list "policy.service.maxBackoff" .Values.policy.service.maxBackoff 1 $any) -}}
{{- include "kubiya-runner.checkDuration" (list "audit.checkpoint.interval" .Values.audit.checkpoint.interval 1 $any) -}}
{{- end -}}

{{- /*
controlPlane.url and controlPlane.jwksUrl: https, or http to a loopback host, or insecureHttp (the
runner's own rule, src/config/schema.ts): over http anyone on the path can swap the trusted keys
or read the runner token.
*/}}
{{- define "kubiya-runner.checkTransport" -}}
{{- range $key := list "url" "jwksUrl" -}}
{{- $u := get $.Values.controlPlane $key | toString -}}
{{- if and $u (not $.Values.controlPlane.insecureHttp) (not (regexMatch "^(https://|http://(localhost|127\\.[0-9]+\\.[0-9]+\\.[0-9]+|\\[::1\\])(:[0-9]*)?([/?#]|$))" (lower $u))) -}}
{{- fail (printf "controlPlane.%s: must be https (plain http only to a loopback host, or with controlPlane.insecureHttp: true)" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* The Secret with the checkpoint signing key (key signing-key.pem): the one given, the generated one, or "" (no checkpoints). */}}
{{- define "kubiya-runner.auditKeySecret" -}}
{{- if .Values.audit.checkpoint.existingSecret -}}
{{- .Values.audit.checkpoint.existingSecret -}}
{{- else if .Values.audit.checkpoint.generateKey -}}
{{- printf "%s-audit-signing-key" (include "kubiya-runner.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
The runner image: repository@digest when image.digest is set (it wins over the tag), else
repository:tag (the chart's appVersion by default). One definition for the StatefulSet and the
helm test pod, so a digest-pinned install tests the image it runs.
*/}}
{{- define "kubiya-runner.image" -}}
{{ .Values.image.repository }}{{ with .Values.image.digest }}@{{ . }}{{ else }}:{{ default .Chart.AppVersion .Values.image.tag }}{{ end }}
{{- end }}
