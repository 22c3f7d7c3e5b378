{{- define "bastion.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bastion.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bastion.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bastion.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bastion.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bastion.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The replica count limits are divided by while Redis is unreachable: the most pods
that may run, so replicas together never pass a limit. */}}
{{- define "bastion.maxReplicas" -}}
{{- if .Values.autoscaling.enabled -}}{{ .Values.autoscaling.maxReplicas }}{{- else -}}{{ .Values.replicaCount }}{{- end -}}
{{- end -}}

{{/* An environment variable from a plain value or a Secret reference. */}}
{{- define "bastion.urlEnv" -}}
{{- $v := index . 1 -}}
{{- if $v.existingSecret.name }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.existingSecret.name }}
      key: {{ $v.existingSecret.key }}
{{- else if $v.url }}
- name: {{ index . 0 }}
  value: {{ $v.url | quote }}
{{- end }}
{{- end -}}
