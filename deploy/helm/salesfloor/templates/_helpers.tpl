{{/* Names, labels, the worker's environment and the checks the schema cannot express. */}}

{{- define "salesfloor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "salesfloor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "salesfloor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "salesfloor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}

{{- define "salesfloor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "salesfloor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: salesfloor
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The Secret holding the web token: the user's, or the one this chart creates (templates/secret.yaml). */}}
{{- define "salesfloor.webTokenSecret" -}}
{{- .Values.webToken.existingSecret | default (printf "%s-web-token" (include "salesfloor.fullname" .)) -}}
{{- end -}}

{{/* The prometheus job label the alert rules select (`up{job="salesfloor"}`). */}}
{{- define "salesfloor.job" -}}
salesfloor
{{- end -}}

{{/* A value as the worker reads it: whole numbers without an exponent (YAML numbers arrive as float64:
     1000000 would print as 1e+06), lists joined with commas. */}}
{{- define "salesfloor.setting" -}}
{{- if kindIs "slice" . -}}
{{- $parts := list -}}
{{- range . -}}{{- $parts = append $parts (include "salesfloor.setting" .) -}}{{- end -}}
{{- join "," $parts -}}
{{- else if and (kindIs "float64" .) (eq (floor .) .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* The worker's environment (a YAML list of EnvVar). */}}
{{- define "salesfloor.env" -}}
{{- $v := .Values -}}
{{- $env := list -}}
{{- $env = append $env (dict "name" "SALESFLOOR_WEB_HOST" "value" "0.0.0.0") -}}
{{- $env = append $env (dict "name" "SALESFLOOR_WEB_PORT" "value" "6066") -}}
{{- /* the address other replicas forward API calls to: the pod's own IP (0.0.0.0 is only the bind) */ -}}
{{- $env = append $env (dict "name" "SALESFLOOR_WEB_ADVERTISED_HOST" "valueFrom" (dict "fieldRef" (dict "fieldPath" "status.podIP"))) -}}
{{- $env = append $env (dict "name" "SALESFLOOR_DATA_DIR" "value" "/var/lib/salesfloor") -}}
{{- $env = append $env (dict "name" "SALESFLOOR_KAFKA_BOOTSTRAP" "value" $v.kafka.bootstrap) -}}
{{- with $v.kafka.securityProtocol -}}
{{- $env = append $env (dict "name" "SALESFLOOR_KAFKA_SECURITY_PROTOCOL" "value" .) -}}
{{- end -}}
{{- with $v.kafka.saslMechanism -}}
{{- $env = append $env (dict "name" "SALESFLOOR_KAFKA_SASL_MECHANISM" "value" .) -}}
{{- end -}}
{{- with $v.kafka.user -}}
{{- $env = append $env (dict "name" "SALESFLOOR_KAFKA_USER" "value" .) -}}
{{- end -}}
{{- if $v.kafka.password.existingSecret -}}
{{- $env = append $env (dict "name" "SALESFLOOR_KAFKA_PASSWORD_FILE" "value" "/run/salesfloor/kafka-password/password") -}}
{{- end -}}
{{- if or $v.kafka.ca.existingSecret $v.kafka.ca.existingConfigMap -}}
{{- $env = append $env (dict "name" "SALESFLOOR_KAFKA_CA_FILE" "value" "/run/salesfloor/kafka-ca/ca.crt") -}}
{{- end -}}
{{- range $key := keys $v.config | sortAlpha -}}
{{- $value := index $v.config $key -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $env = append $env (dict "name" (printf "SALESFLOOR_%s" (snakecase $key | upper)) "value" (include "salesfloor.setting" $value)) -}}
{{- end -}}
{{- end -}}
{{- if $v.webToken.allowAnonymous -}}
{{- $env = append $env (dict "name" "SALESFLOOR_WEB_ALLOW_ANONYMOUS" "value" "1") -}}
{{- else -}}
{{- $env = append $env (dict "name" "SALESFLOOR_WEB_TOKEN_FILE" "value" "/run/salesfloor/web-token/token") -}}
{{- end -}}
{{- with $v.alerts.webhookUrl.existingSecret -}}
{{- $ref := dict "secretKeyRef" (dict "name" . "key" $v.alerts.webhookUrl.key) -}}
{{- $env = append $env (dict "name" "SALESFLOOR_ALERT_WEBHOOK_URL" "valueFrom" $ref) -}}
{{- end -}}
{{- if $v.alerts.routes.existingSecret -}}
{{- $env = append $env (dict "name" "SALESFLOOR_ALERT_ROUTES_FILE" "value" "/run/salesfloor/alert-routes/routes.json") -}}
{{- end -}}
{{- $names := dict -}}
{{- range $env -}}{{- $_ := set $names .name true -}}{{- end -}}
{{- range $name := keys $v.extraEnv | sortAlpha -}}
{{- if hasKey $names $name -}}
{{- fail (printf "extraEnv.%s: the chart sets %s itself; use its value (see values.yaml) instead" $name $name) -}}
{{- end -}}
{{- $value := index $v.extraEnv $name -}}
{{- if kindIs "map" $value -}}
{{- $env = append $env (merge (dict "name" $name) $value) -}}
{{- else -}}
{{- $env = append $env (dict "name" $name "value" (include "salesfloor.setting" $value)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* Combinations values.schema.json cannot refuse, each with a message that names the values. */}}
{{- define "salesfloor.validate" -}}
{{- if and .Values.webToken.allowAnonymous .Values.webToken.existingSecret -}}
{{- fail "webToken.allowAnonymous and webToken.existingSecret exclude each other: an open port has no token" -}}
{{- end -}}
{{- if hasPrefix "SASL" (toString .Values.kafka.securityProtocol) -}}
{{- if not (and .Values.kafka.user .Values.kafka.password.existingSecret) -}}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.user and kafka.password.existingSecret" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.kafka.ca.existingSecret .Values.kafka.ca.existingConfigMap -}}
{{- fail "kafka.ca: set existingSecret or existingConfigMap, not both" -}}
{{- end -}}
{{- end -}}
