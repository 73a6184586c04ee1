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

{{/* The embedded broker: its StatefulSet and client Service, and the headless Service that
gives its pod a stable DNS name. */}}
{{- define "smartwatch.kafka.embeddedName" -}}
{{- include "smartwatch.componentName" (list . "kafka") }}
{{- end }}

{{- define "smartwatch.kafka.headlessName" -}}
{{- include "smartwatch.componentName" (list . "kafka-headless") }}
{{- end }}

{{/* The bootstrap address the pipeline connects to, in every kafka.mode: Strimzi's bootstrap
Service of the plain listener, the embedded broker's client Service, or
kafka.external.bootstrap. */}}
{{- define "smartwatch.kafka.bootstrap" -}}
{{- $mode := .Values.kafka.mode }}
{{- if eq $mode "strimzi" }}
{{- printf "%s-kafka-bootstrap.%s.svc:9092" (include "smartwatch.kafka.cluster" .) .Release.Namespace }}
{{- else if eq $mode "embedded" }}
{{- printf "%s.%s.svc:9092" (include "smartwatch.kafka.embeddedName" .) .Release.Namespace }}
{{- else if eq $mode "external" }}
{{- required "kafka.external.bootstrap (host:port of the existing Kafka) is required when kafka.mode is external" .Values.kafka.external.bootstrap }}
{{- else }}
{{- fail (printf "kafka.mode must be strimzi, embedded or external, not %q" $mode) }}
{{- end }}
{{- end }}

{{/* "true" when the pipeline talks to an external Kafka over TLS. */}}
{{- define "smartwatch.kafka.tls" -}}
{{- if and (eq .Values.kafka.mode "external") (has .Values.kafka.external.securityProtocol (list "SSL" "SASL_SSL")) }}true{{ end }}
{{- end }}

{{/* "true" when the pipeline logs in to an external Kafka with SASL. */}}
{{- define "smartwatch.kafka.sasl" -}}
{{- if and (eq .Values.kafka.mode "external") (hasPrefix "SASL_" .Values.kafka.external.securityProtocol) }}true{{ end }}
{{- end }}

{{/* "true" when the brokers' CA certificate is mounted from kafka.external.existingSecret. */}}
{{- define "smartwatch.kafka.caMounted" -}}
{{- $ext := .Values.kafka.external }}
{{- if and (include "smartwatch.kafka.tls" .) $ext.existingSecret $ext.caKey }}true{{ end }}
{{- end }}

{{/* Where the external Kafka's Secret (its CA certificate) is mounted. */}}
{{- define "smartwatch.kafka.secretDir" -}}
/var/run/secrets/smartwatch/kafka
{{- end }}

{{/* Kafka nodes of the chart's own Kafka: Strimzi's or the embedded StatefulSet's. */}}
{{- define "smartwatch.kafka.nodes" -}}
{{- if eq .Values.kafka.mode "embedded" }}
{{- .Values.kafka.embedded.replicas | int }}
{{- else }}
{{- .Values.kafka.replicas | int }}
{{- end }}
{{- end }}

{{/* The broker properties the user gave: kafka.config (Strimzi) or kafka.embedded.config. */}}
{{- define "smartwatch.kafka.userConfig" -}}
{{- if eq .Values.kafka.mode "embedded" }}
{{- toJson .Values.kafka.embedded.config }}
{{- else }}
{{- toJson .Values.kafka.config }}
{{- end }}
{{- end }}

{{/* Replication factor of the chart's topics and of Kafka's internal topics (Strimzi and
     embedded). */}}
{{- define "smartwatch.kafka.replicationFactor" -}}
{{- if .Values.topics.replicas }}
{{- .Values.topics.replicas }}
{{- else }}
{{- min (include "smartwatch.kafka.nodes" . | int) 3 }}
{{- end }}
{{- end }}

{{/* min.insync.replicas of the brokers: the user's broker config's when set, else 2 wherever
     there are 2 replicas or more (an acknowledged record is then on two disks), else 1. */}}
{{- define "smartwatch.kafka.minInsync" -}}
{{- $rf := include "smartwatch.kafka.replicationFactor" . | int }}
{{- $config := include "smartwatch.kafka.userConfig" . | fromJson }}
{{- if hasKey $config "min.insync.replicas" }}
{{- index $config "min.insync.replicas" | int }}
{{- else }}
{{- min $rf 2 }}
{{- end }}
{{- end }}

{{/* Strimzi and embedded modes: refuses replication settings under which one lost broker
     loses acknowledged readings (or under which no write can succeed), naming the values. */}}
{{- define "smartwatch.kafka.validateReplication" -}}
{{- if has .Values.kafka.mode (list "strimzi" "embedded") }}
{{- $nodes := include "smartwatch.kafka.nodes" . | int }}
{{- $nodesValue := ternary "kafka.embedded.replicas" "kafka.replicas" (eq .Values.kafka.mode "embedded") }}
{{- if and (eq .Values.kafka.mode "embedded") (eq $nodes 2) }}
{{- fail "kafka.embedded.replicas 2: a KRaft quorum of 2 nodes stops when either is lost; use 1 (development) or 3" }}
{{- end }}
{{- $rf := include "smartwatch.kafka.replicationFactor" . | int }}
{{- $isr := include "smartwatch.kafka.minInsync" . | int }}
{{- $topicIsr := get .Values.topics.eventsConfig "min.insync.replicas" }}
{{- if and $topicIsr (eq .Values.kafka.mode "strimzi") }}{{ $isr = int $topicIsr }}{{ end }}
{{- if gt $rf $nodes }}
{{- fail (printf "topics.replicas %d exceeds %s %d: a topic cannot have more replicas than there are brokers" $rf $nodesValue $nodes) }}
{{- end }}
{{- if gt $isr $rf }}
{{- fail (printf "min.insync.replicas %d exceeds the replication factor %d: no write could ever be acknowledged" $isr $rf) }}
{{- end }}
{{- if and (gt $rf 1) (lt $isr 2) (not .Values.kafka.acceptDataLossOnBrokerLoss) }}
{{- fail (printf "kafka: a replication factor of %d with min.insync.replicas 1 loses acknowledged readings when one broker is lost; set min.insync.replicas to 2 (kafka.config, kafka.embedded.config, topics.eventsConfig) or kafka.acceptDataLossOnBrokerLoss=true" $rf) }}
{{- end }}
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

{{/* ---- The lake and the object store --------------------------------------------------- */}}

{{- define "smartwatch.objectStore.name" -}}
{{- include "smartwatch.componentName" (list . "objectstore") }}
{{- end }}

{{/* The parent of lake.uri ("s3a://b/events" -> "s3a://b"; "s3a://b" stays). */}}
{{- define "smartwatch.lake.parent" -}}
{{- $uri := .Values.lake.uri }}
{{- $rest := regexReplaceAll "^[a-z0-9]+://" $uri "" }}
{{- if contains "/" (trimSuffix "/" $rest) }}
{{- regexReplaceAll "/[^/]*/?$" $uri "" }}
{{- else }}
{{- trimSuffix "/" $uri }}
{{- end }}
{{- end }}

{{- define "smartwatch.lake.quarantineUri" -}}
{{- default (printf "%s/quarantine" (include "smartwatch.lake.parent" .)) .Values.lake.quarantineUri }}
{{- end }}

{{- define "smartwatch.lake.checkpointUri" -}}
{{- default (printf "%s/checkpoints/landing" (include "smartwatch.lake.parent" .)) .Values.lake.checkpointUri }}
{{- end }}

{{/* The bucket of an s3a:// URI: include "smartwatch.s3.bucket" "s3a://bucket/path" */}}
{{- define "smartwatch.s3.bucket" -}}
{{- regexReplaceAll "^s3a://([^/]+).*$" . "${1}" }}
{{- end }}

{{/* The distinct buckets of the s3a:// lake URIs, space-separated. */}}
{{- define "smartwatch.lake.buckets" -}}
{{- $buckets := list }}
{{- range (list .Values.lake.uri (include "smartwatch.lake.quarantineUri" .) (include "smartwatch.lake.checkpointUri" .)) }}
{{- if hasPrefix "s3a://" . }}
{{- $buckets = append $buckets (include "smartwatch.s3.bucket" .) }}
{{- end }}
{{- end }}
{{- $buckets | uniq | join " " }}
{{- end }}

{{/* "true" when any lake URI is on S3 (s3a://). */}}
{{- define "smartwatch.lake.onS3" -}}
{{- if include "smartwatch.lake.buckets" . }}true{{ end }}
{{- end }}

{{/* The S3 endpoint: lake.s3.endpoint, else the embedded object store's Service. */}}
{{- define "smartwatch.lake.s3Endpoint" -}}
{{- if .Values.lake.s3.endpoint }}
{{- .Values.lake.s3.endpoint }}
{{- else if .Values.objectStore.embedded.enabled }}
{{- printf "http://%s.%s.svc:8333" (include "smartwatch.objectStore.name" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The Secret with the lake's keys: lake.s3.existingSecret, else the embedded object store's
generated one, else none (empty). */}}
{{- define "smartwatch.lake.secretName" -}}
{{- if .Values.lake.s3.existingSecret }}
{{- .Values.lake.s3.existingSecret }}
{{- else if .Values.objectStore.embedded.enabled }}
{{- include "smartwatch.objectStore.name" . }}
{{- end }}
{{- end }}

{{- define "smartwatch.lake.accessKeyKey" -}}
{{- if .Values.lake.s3.existingSecret }}{{ .Values.lake.s3.accessKeyKey }}{{ else }}accessKey{{ end }}
{{- end }}

{{- define "smartwatch.lake.secretKeyKey" -}}
{{- if .Values.lake.s3.existingSecret }}{{ .Values.lake.s3.secretKeyKey }}{{ else }}secretKey{{ end }}
{{- end }}

{{/* The S3A settings derived from lake.s3 (JSON, for fromJson), for an s3a:// lake:
endpoint (when there is one), path-style access (always with the embedded store), region. */}}
{{- define "smartwatch.lake.sparkConf" -}}
{{- $conf := dict }}
{{- if include "smartwatch.lake.onS3" . }}
{{- with include "smartwatch.lake.s3Endpoint" . }}
{{- $_ := set $conf "spark.hadoop.fs.s3a.endpoint" . }}
{{- end }}
{{- $pathStyle := or .Values.lake.s3.pathStyleAccess .Values.objectStore.embedded.enabled }}
{{- $_ := set $conf "spark.hadoop.fs.s3a.path.style.access" ($pathStyle | toString) }}
{{- $_ := set $conf "spark.hadoop.fs.s3a.endpoint.region" .Values.lake.s3.region }}
{{- end }}
{{- toJson $conf }}
{{- end }}

{{/* AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the lake's Secret, when there is one. */}}
{{- define "smartwatch.env.lakeCredentials" -}}
{{- with include "smartwatch.lake.secretName" . }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "smartwatch.lake.accessKeyKey" $ }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "smartwatch.lake.secretKeyKey" $ }}
{{- end }}
{{- end }}

{{/* ---- Service accounts ------------------------------------------------------------------ */}}

{{- define "smartwatch.api.serviceAccountName" -}}
{{- default (include "smartwatch.componentName" (list . "api")) .Values.api.serviceAccount.name }}
{{- end }}

{{- define "smartwatch.operator.serviceAccountName" -}}
{{- default (include "smartwatch.componentName" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- end }}

{{/* What the operator does in a namespace it serves (a Role, or the ClusterRole). */}}
{{- define "smartwatch.operator.namespacedRules" -}}
- apiGroups: [smartwatch.dev]
  resources: [aggregationschedules]
  verbs: [get, list, watch, patch]
- apiGroups: [smartwatch.dev]
  resources: [aggregationschedules/status]
  verbs: [get, patch, update]
# Runs are owned by their schedule with blockOwnerDeletion, which the
# OwnerReferencesPermissionEnforcement admission plugin allows only with this.
- apiGroups: [smartwatch.dev]
  resources: [aggregationschedules/finalizers]
  verbs: [update]
- apiGroups: [sparkoperator.k8s.io]
  resources: [sparkapplications]
  verbs: [get, list, watch, create, delete, patch]
# A failed run's driver pod: its termination message is the failure's reason.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
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

{{/* Kafka: its bootstrap address in every kafka.mode and, for an external Kafka, the
security protocol, the SASL login (from kafka.external.existingSecret) and the CA file. */}}
{{- define "smartwatch.env.kafka" -}}
- name: SMARTWATCH_KAFKA_BOOTSTRAP
  value: {{ include "smartwatch.kafka.bootstrap" . | quote }}
{{- if eq .Values.kafka.mode "external" }}
{{- $ext := .Values.kafka.external }}
- name: SMARTWATCH_KAFKA_SECURITY_PROTOCOL
  value: {{ $ext.securityProtocol | quote }}
{{- if include "smartwatch.kafka.sasl" . }}
- name: SMARTWATCH_KAFKA_SASL_MECHANISM
  value: {{ $ext.sasl.mechanism | quote }}
- name: SMARTWATCH_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $ext.existingSecret }}
      key: {{ $ext.usernameKey }}
- name: SMARTWATCH_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $ext.existingSecret }}
      key: {{ $ext.passwordKey }}
{{- end }}
{{- if include "smartwatch.kafka.caMounted" . }}
- name: SMARTWATCH_KAFKA_SSL_CA_FILE
  value: {{ printf "%s/%s" (include "smartwatch.kafka.secretDir" .) $ext.caKey | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Kafka, topics and Postgres: what the API and the landing job both need. */}}
{{- define "smartwatch.env.pipeline" -}}
{{ include "smartwatch.env.kafka" . }}
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
  value: {{ include "smartwatch.lake.quarantineUri" . | quote }}
- name: SMARTWATCH_CHECKPOINT_URI
  value: {{ include "smartwatch.lake.checkpointUri" . | quote }}
{{- include "smartwatch.env.lakeCredentials" . }}
{{- if .Values.landing.metricsPort }}
- name: SMARTWATCH_LANDING_METRICS_PORT
  value: {{ .Values.landing.metricsPort | toString | quote }}
{{- end }}
{{- include "smartwatch.env.extra" .Values.landing.env }}
{{- end }}

{{/* What the landing job's driver and executors both mount: the external Kafka's Secret (its
CA certificate) and the lake's claim. */}}
{{- define "smartwatch.landing.podExtras" -}}
{{- if include "smartwatch.kafka.caMounted" . }}
secrets:
  - name: {{ .Values.kafka.external.existingSecret }}
    path: {{ include "smartwatch.kafka.secretDir" . }}
    secretType: Generic
{{- end }}
{{- if .Values.lake.volume.claimName }}
volumeMounts:
  - name: lake
    mountPath: {{ .Values.lake.volume.mountPath }}
{{- end }}
{{- end }}

{{/* The pod template of the landing job's driver or executors (dict "ctx" $ "container"
NAME, the container name Spark gives it): the settings, the security contexts of spark.*, no
Service links. */}}
{{- define "smartwatch.landing.podTemplate" -}}
{{- $ctx := .ctx }}
spec:
  enableServiceLinks: false
  securityContext:
    {{- toYaml $ctx.Values.spark.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .container }}
      env:
        {{- include "smartwatch.landing.env" $ctx | nindent 8 }}
      {{- if and (eq .container "spark-kubernetes-driver") $ctx.Values.landing.metricsPort }}
      ports:
        - name: metrics
          containerPort: {{ $ctx.Values.landing.metricsPort }}
      {{- end }}
      securityContext:
        {{- toYaml $ctx.Values.spark.securityContext | nindent 8 }}
{{- end }}

{{/* ---- Pods ------------------------------------------------------------------------------ */}}

{{/* The restricted pod security context of the project's images (uid/gid 10001 unless
given): include "smartwatch.podSecurityContext" 10001 */}}
{{- define "smartwatch.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The restricted container security context: read-only root, no capabilities. */}}
{{- define "smartwatch.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* NetworkPolicy peers of the release: its own pods and the operator's aggregation runs. */}}
{{- define "smartwatch.networkPolicy.releasePeers" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
- podSelector:
    matchLabels:
      app.kubernetes.io/managed-by: smartwatch-operator
{{- end }}

{{/* ---- Checks ---------------------------------------------------------------------------- */}}

{{/* Values that exclude or need each other, refused by name (templates/validate.yaml). */}}
{{- define "smartwatch.validate" -}}
{{- include "smartwatch.kafka.validateReplication" . }}
{{- $ext := .Values.kafka.external }}
{{- $_ := include "smartwatch.kafka.bootstrap" . }}
{{- if and (include "smartwatch.kafka.sasl" .) (not $ext.existingSecret) }}
{{- fail (printf "kafka.external.existingSecret (a Secret with keys %s and %s) is required with kafka.external.securityProtocol %s" $ext.usernameKey $ext.passwordKey $ext.securityProtocol) }}
{{- end }}
{{- if and .Values.objectStore.embedded.enabled (not (hasPrefix "s3a://" .Values.lake.uri)) }}
{{- fail "objectStore.embedded.enabled needs an s3a://BUCKET/... lake.uri (the bucket is created in the embedded store)" }}
{{- end }}
{{- $api := .Values.api }}
{{- if and $api.preStopSeconds (le (int $api.terminationGracePeriodSeconds) (int $api.preStopSeconds)) }}
{{- fail "api.terminationGracePeriodSeconds must exceed api.preStopSeconds" }}
{{- end }}
{{- if and $api.autoscaling.enabled (gt (int $api.autoscaling.minReplicas) (int $api.autoscaling.maxReplicas)) }}
{{- fail "api.autoscaling.minReplicas must not exceed api.autoscaling.maxReplicas" }}
{{- end }}
{{- $watched := .Values.operator.watchNamespaces }}
{{- if and .Values.operator.enabled $watched .Values.schedules (not (has .Release.Namespace $watched)) }}
{{- fail (printf "operator.watchNamespaces %v leaves out the release's namespace %s, where the chart's schedules are: add it, or set schedules: []" $watched .Release.Namespace) }}
{{- end }}
{{- end }}
