{{/*
Names, labels and the few values several templates share.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "smartwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name: <release>-<chart>, or just the release name when it
already contains the chart name; cut to 63 characters. */}}
{{- define "smartwatch.fullname" -}}
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

{{/* <fullname>-<suffix>, cut to 63 characters: include "smartwatch.componentName" (list $ "api") */}}
{{- define "smartwatch.componentName" -}}
{{- $ctx := index . 0 }}
{{- printf "%s-%s" (include "smartwatch.fullname" $ctx) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "smartwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: name, instance and component only, never version or chart, since a
selector cannot change after creation. Call with (dict "ctx" $ "component" "api"). */}}
{{- define "smartwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smartwatch.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* Every object's labels. Call with (dict "ctx" $ "component" "api"). */}}
{{- define "smartwatch.labels" -}}
helm.sh/chart: {{ include "smartwatch.chart" .ctx }}
{{ include "smartwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: smartwatch
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}: include "smartwatch.imageRef" (list $ .Values.image) */}}
{{- define "smartwatch.imageRef" -}}
{{- $ctx := index . 0 }}
{{- $image := index . 1 }}
{{- $ref := printf "%s:%s" $image.repository (default $ctx.Chart.AppVersion $image.tag | toString) }}
{{- if $image.digest }}
{{- $ref = printf "%s@%s" $ref $image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{- define "smartwatch.image" -}}
{{- include "smartwatch.imageRef" (list . .Values.image) }}
{{- end }}

{{- define "smartwatch.sparkImage" -}}
{{- include "smartwatch.imageRef" (list . .Values.sparkImage) }}
{{- end }}

{{/* ---- Kafka ---------------------------------------------------------------------------- */}}

{{/* Name of the Strimzi Kafka cluster, short enough for its pods (<cluster>-<cluster>-pool-<id>). */}}
{{- define "smartwatch.kafka.cluster" -}}
{{- include "smartwatch.fullname" . | trunc 24 | trimSuffix "-" }}
{{- end }}

{{/* The bootstrap address the pipeline connects to: Strimzi's bootstrap Service of the plain
listener, or kafka.bootstrap. */}}
{{- define "smartwatch.kafka.bootstrap" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s-kafka-bootstrap.%s.svc:9092" (include "smartwatch.kafka.cluster" .) .Release.Namespace }}
{{- else }}
{{- required "kafka.bootstrap (host:port of an existing Kafka) is required when kafka.enabled is false" .Values.kafka.bootstrap }}
{{- end }}
{{- end }}

{{/* Replication factor of the chart's topics and of Kafka's internal topics. */}}
{{- define "smartwatch.kafka.replicationFactor" -}}
{{- if .Values.topics.replicas }}
{{- .Values.topics.replicas }}
{{- else }}
{{- min (int .Values.kafka.replicas) 3 }}
{{- end }}
{{- end }}

{{/* ---- Postgres ------------------------------------------------------------------------- */}}

{{- define "smartwatch.postgres.secretName" -}}
{{- if and .Values.postgres.existingSecret (not .Values.postgres.embedded.enabled) }}
{{- .Values.postgres.existingSecret }}
{{- else }}
{{- include "smartwatch.componentName" (list . "postgres") }}
{{- end }}
{{- end }}

{{- define "smartwatch.postgres.secretKey" -}}
{{- if and .Values.postgres.existingSecret (not .Values.postgres.embedded.enabled) }}
{{- .Values.postgres.existingSecretKey }}
{{- else }}dsn{{ end }}
{{- end }}

{{/* ---- Service accounts ------------------------------------------------------------------ */}}

{{- define "smartwatch.api.serviceAccountName" -}}
{{- default (include "smartwatch.componentName" (list . "api")) .Values.api.serviceAccount.name }}
{{- end }}

{{- define "smartwatch.operator.serviceAccountName" -}}
{{- default (include "smartwatch.componentName" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "smartwatch.operator.peering" -}}
{{- default (include "smartwatch.componentName" (list . "operator")) .Values.operator.peering }}
{{- end }}

{{/* ---- Environment ---------------------------------------------------------------------- */}}

{{/* SMARTWATCH_POSTGRES_DSN from the DSN Secret. */}}
{{- define "smartwatch.env.postgres" -}}
- name: SMARTWATCH_POSTGRES_DSN
  valueFrom:
    secretKeyRef:
      name: {{ include "smartwatch.postgres.secretName" . }}
      key: {{ include "smartwatch.postgres.secretKey" . }}
{{- end }}

{{/* Kafka, topics and Postgres: what the API and the landing job both need. */}}
{{- define "smartwatch.env.pipeline" -}}
- name: SMARTWATCH_KAFKA_BOOTSTRAP
  value: {{ include "smartwatch.kafka.bootstrap" . | quote }}
- name: SMARTWATCH_EVENTS_TOPIC
  value: {{ .Values.topics.events | quote }}
- name: SMARTWATCH_DEAD_LETTER_TOPIC
  value: {{ .Values.topics.deadLetter | quote }}
{{ include "smartwatch.env.postgres" . }}
{{- end }}

{{/* Extra settings from a name -> value map: include "smartwatch.env.extra" .Values.api.env */}}
{{- define "smartwatch.env.extra" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* The landing job's settings, on its driver and executors (as the operator's runs carry
theirs on both). */}}
{{- define "smartwatch.landing.env" -}}
{{ include "smartwatch.env.pipeline" . }}
- name: SMARTWATCH_LAKE_URI
  value: {{ .Values.lake.uri | quote }}
- name: SMARTWATCH_QUARANTINE_URI
  value: {{ .Values.lake.quarantineUri | quote }}
- name: SMARTWATCH_CHECKPOINT_URI
  value: {{ .Values.lake.checkpointUri | quote }}
{{- include "smartwatch.env.extra" .Values.landing.env }}
{{- end }}
