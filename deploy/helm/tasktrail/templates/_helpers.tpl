{{/* Names, labels and the references every template shares. */}}

{{- define "tasktrail.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tasktrail.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tasktrail.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tasktrail.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "tasktrail.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "tasktrail.imageTag" .) }}
{{- end }}

{{/* Common labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "tasktrail.labels" -}}
helm.sh/chart: {{ include "tasktrail.chart" .ctx }}
{{ include "tasktrail.selectorLabels" . }}
app.kubernetes.io/version: {{ include "tasktrail.imageTag" .ctx | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: tasktrail
{{- end }}

{{- define "tasktrail.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tasktrail.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Fixed names: the apps' defaults and deploy/dapr/local use them (scripts/check-chart compares). */}}
{{- define "tasktrail.pubsubName" -}}kafka-pubsub{{- end }}
{{- define "tasktrail.topic" -}}task-events{{- end }}
{{- define "tasktrail.deadLetterTopic" -}}task-events-dlq{{- end }}
{{- define "tasktrail.remindersTopic" -}}reminders{{- end }}
{{- define "tasktrail.daprConfigName" -}}{{ include "tasktrail.fullname" . }}-dapr{{- end }}

{{- define "tasktrail.kafkaBrokers" -}}
{{- if .Values.kafka.brokers }}
{{- .Values.kafka.brokers }}
{{- else if eq .Values.kafka.flavour "strimzi" }}
{{- printf "%s-kafka-bootstrap.%s:9092" .Values.kafka.strimzi.cluster .Values.kafka.strimzi.namespace }}
{{- else }}
{{- fail "kafka.brokers is required with kafka.flavour=redpanda (the Redpanda Cloud bootstrap server, host:9092)" }}
{{- end }}
{{- end }}

{{/*
Database references, as "secretName/key" strings (one per database); the chart's Secret
<fullname>-database holds the URLs given as values.
*/}}
{{- define "tasktrail.db.api" -}}
{{- $pg := .Values.postgresql }}
{{- $sources := 0 }}
{{- if $pg.url }}{{ $sources = add1 $sources }}{{ end }}
{{- if $pg.existingSecret }}{{ $sources = add1 $sources }}{{ end }}
{{- if $pg.inCluster.enabled }}{{ $sources = add1 $sources }}{{ end }}
{{- if ne (int $sources) 1 }}
{{- fail "set exactly one of postgresql.url, postgresql.existingSecret, postgresql.inCluster.enabled" }}
{{- end }}
{{- if $pg.inCluster.enabled }}
{{- printf "%s-postgresql/url" (include "tasktrail.fullname" .) }}
{{- else if $pg.existingSecret }}
{{- printf "%s/%s" $pg.existingSecret $pg.existingSecretKey }}
{{- else }}
{{- printf "%s-database/url" (include "tasktrail.fullname" .) }}
{{- end }}
{{- end }}

{{/* call with (dict "ctx" $ "which" "audit"|"statestore") */}}
{{- define "tasktrail.db.other" -}}
{{- $own := index .ctx.Values.postgresql .which }}
{{- if and $own.url $own.existingSecret }}
{{- fail (printf "set at most one of postgresql.%s.url and postgresql.%s.existingSecret" .which .which) }}
{{- end }}
{{- if $own.existingSecret }}
{{- printf "%s/%s" $own.existingSecret $own.existingSecretKey }}
{{- else if $own.url }}
{{- printf "%s-database/%s-url" (include "tasktrail.fullname" .ctx) .which }}
{{- else }}
{{- include "tasktrail.db.api" .ctx }}
{{- end }}
{{- end }}

{{/* "name/key" -> a secretKeyRef block */}}
{{- define "tasktrail.secretKeyRef" -}}
{{- $parts := splitn "/" 2 . -}}
secretKeyRef:
  name: {{ $parts._0 }}
  key: {{ $parts._1 }}
{{- end }}

{{/* Does the chart own a Secret <fullname>-database? */}}
{{- define "tasktrail.db.chartSecret" -}}
{{- $pg := .Values.postgresql }}
{{- if or (and $pg.url (not $pg.inCluster.enabled)) $pg.audit.url $pg.statestore.url }}true{{ end }}
{{- end }}

{{- define "tasktrail.jwtSecretRef" -}}
{{- if .Values.auth.existingSecret }}
{{- printf "%s/%s" .Values.auth.existingSecret .Values.auth.existingSecretKey }}
{{- else }}
{{- printf "%s-jwt/secret" (include "tasktrail.fullname" .) }}
{{- end }}
{{- end }}

{{- define "tasktrail.openaiKeyRef" -}}
{{- if .Values.openai.existingSecret }}
{{- printf "%s/%s" .Values.openai.existingSecret .Values.openai.existingSecretKey }}
{{- else if .Values.openai.apiKey }}
{{- printf "%s-openai/api-key" (include "tasktrail.fullname" .) }}
{{- end }}
{{- end }}

{{/* "<secret>/<key>" of SMTP_URL, or empty when emails go to the log. */}}
{{- define "tasktrail.smtpUrlRef" -}}
{{- if .Values.smtp.existingSecret }}
{{- printf "%s/%s" .Values.smtp.existingSecret .Values.smtp.existingSecretKey }}
{{- else if .Values.smtp.url }}
{{- printf "%s-smtp/smtp-url" (include "tasktrail.fullname" .) }}
{{- end }}
{{- end }}

{{/* notify refuses to start with an SMTP server but no sender. */}}
{{- define "tasktrail.checkSmtp" -}}
{{- if and (include "tasktrail.smtpUrlRef" .) (not .Values.smtp.from) }}
{{- fail "smtp.url (or smtp.existingSecret) needs smtp.from, the sender of completion emails" }}
{{- end }}
{{- end }}

{{- define "tasktrail.appTokenSecret" -}}
{{- default (printf "%s-app-token" (include "tasktrail.fullname" .)) .Values.dapr.appToken.existingSecret }}
{{- end }}

{{- define "tasktrail.kafkaSecret" -}}
{{- default (printf "%s-kafka" (include "tasktrail.fullname" .)) .Values.kafka.sasl.existingSecret }}
{{- end }}

{{/*
An existing Secret's value (base64-decoded) so that generated secrets survive upgrades, or a
new random one. call with (dict "ctx" $ "name" "..." "key" "..." "length" 64)
*/}}
{{- define "tasktrail.keptRandom" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum (int .length) }}
{{- end }}
{{- end }}

{{/* The shutdown budget the Deployments must fit in. */}}
{{- define "tasktrail.checkShutdownBudget" -}}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- $drain := int .Values.dapr.gracefulShutdownSeconds }}
{{- if le $grace (add $drain $drain) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed the preStop sleep plus Dapr's graceful shutdown (2 x dapr.gracefulShutdownSeconds = %d)" $grace (add $drain $drain)) }}
{{- end }}
{{- if le $grace (add (int .Values.dapr.apiBlockShutdownSeconds) $drain) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed dapr.apiBlockShutdownSeconds + dapr.gracefulShutdownSeconds (%d)" $grace (add (int .Values.dapr.apiBlockShutdownSeconds) $drain)) }}
{{- end }}
{{- end }}

{{/* External tokens are accepted only for one issuer and audience (the api refuses to start otherwise). */}}
{{- define "tasktrail.checkExternalTokens" -}}
{{- if and .Values.auth.jwksUrl (or (not .Values.auth.jwtIssuer) (not .Values.auth.jwtAudience)) }}
{{- fail "auth.jwksUrl needs auth.jwtIssuer and auth.jwtAudience: external tokens are accepted only from that issuer, for that audience" }}
{{- end }}
{{- end }}

{{/* Where the api sends the live trail stream: the audit Service, not Dapr (templates/service.yaml). */}}
{{- define "tasktrail.auditStreamUrl" -}}
{{- printf "http://%s-audit.%s.svc:%d" (include "tasktrail.fullname" .) .Release.Namespace (int .Values.audit.port) }}
{{- end }}
