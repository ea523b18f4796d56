{{/*
Named templates shared by every service. A service's own template
(templates/<service>.yaml) calls them with a dict:
  root: the top-level context (.)
  name: the service name, as under services/ (e.g. todo-api)
  svc:  the service's values block (e.g. .Values.todoApi)
*/}}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "sa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* Labels on every object. Call with (dict "root" . "name" "<app name>"). */}}
{{- define "sa.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: serverless-architect
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "sa.chart" .root }}
{{- end }}

{{/* The Cognito issuer: cognito.issuer, or derived from the region and pool id. */}}
{{- define "sa.cognitoIssuer" -}}
{{- if .Values.cognito.issuer -}}
{{- .Values.cognito.issuer -}}
{{- else -}}
{{- printf "https://cognito-idp.%s.amazonaws.com/%s" .Values.aws.region .Values.cognito.userPoolId -}}
{{- end -}}
{{- end }}

{{/* The URL of the SQS queue named by the argument (dict "root" . "queue" "<name>"):
through aws.endpointUrl (moto) when set, else the region's SQS endpoint. */}}
{{- define "sa.queueUrl" -}}
{{- $aws := .root.Values.aws -}}
{{- if $aws.endpointUrl -}}
{{- printf "%s/%s/%s" (trimSuffix "/" $aws.endpointUrl) (toString $aws.accountId) .queue -}}
{{- else -}}
{{- printf "https://sqs.%s.amazonaws.com/%s/%s" $aws.region (toString $aws.accountId) .queue -}}
{{- end -}}
{{- end }}

{{/* The ARN of the IAM role named by the argument (dict "root" . "role" "<name>"). */}}
{{- define "sa.roleArn" -}}
{{- printf "arn:%s:iam::%s:role/%s" .root.Values.aws.partition (toString .root.Values.aws.accountId) .role -}}
{{- end }}

{{/* The data of ConfigMap config-aws. */}}
{{- define "sa.awsConfigData" -}}
AWS_REGION: {{ .Values.aws.region | quote }}
{{- with .Values.aws.endpointUrl }}
AWS_ENDPOINT_URL: {{ . | quote }}
{{- end }}
COGNITO_ISSUER: {{ include "sa.cognitoIssuer" . | quote }}
{{- with .Values.cognito.jwksUrl }}
COGNITO_JWKS_URL: {{ . | quote }}
{{- end }}
COGNITO_CLIENT_IDS: {{ join "," .Values.cognito.clientIds | quote }}
COGNITO_TOKEN_USE: {{ join "," .Values.cognito.tokenUse | quote }}
METRICS_PORT: {{ .Values.metrics.port | quote }}
{{- with .Values.observability }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .otlpEndpoint | quote }}
{{- with .tracesSampler }}
OTEL_TRACES_SAMPLER: {{ . | quote }}
{{- end }}
{{- with .tracesSamplerArg }}
OTEL_TRACES_SAMPLER_ARG: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The labels of a service's pods: the app's, and the one the metrics Service
selects (metrics.serviceMonitor) on the pods whose /metrics is on metrics.port: every
service's but a gateway given a port of its own (gateway.metrics.port). Call with
(dict "root" . "name" "<app name>" "svc" <its values>). */}}
{{- define "sa.podLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: serverless-architect
{{- if or (not .svc.metrics) (eq (int .svc.metrics.port) (int .root.Values.metrics.port)) }}
serverless-architect.dev/metrics: "true"
{{- end }}
{{- end }}

{{/* The prometheus.io scrape annotations of a service's pods, when
metrics.scrapeAnnotations is on; the gateway has its own (gateway.metrics). Call with
the dict of sa.podLabels. */}}
{{- define "sa.scrapeAnnotations" -}}
{{- $m := .root.Values.metrics }}
{{- if and (not .svc.metrics) $m.scrapeAnnotations (gt (int $m.port) 0) }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ $m.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* ConfigMap data from a dict: (dict "derived" <settings from the global values>
"env" <the service's env values>). The service's env wins, so it can override any
derived setting. */}}
{{- define "sa.envData" -}}
{{- $all := merge (deepCopy .env) .derived -}}
{{- range $k, $v := $all }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/* The name of the Secret holding PAGE_TOKEN_KEY. */}}
{{- define "sa.pageTokenSecret" -}}
{{- default "todo-api-page-token" .Values.pageToken.existingSecret -}}
{{- end }}

{{/* The name of the Secret holding UNSUBSCRIBE_KEY. */}}
{{- define "sa.unsubscribeSecret" -}}
{{- default "unsubscribe-key" .Values.unsubscribeKey.existingSecret -}}
{{- end }}

{{/*
A service's ServiceAccount. Besides root, name and svc it takes aws: whether the
service calls AWS (then, with iam.irsa, it is annotated with the conventional role
arn:<partition>:iam::<accountId>:role/<iam.rolePrefix><name>, unless
svc.serviceAccount.roleArn names another).
*/}}
{{- define "sa.serviceAccount" -}}
{{- $ann := deepCopy (default dict .svc.serviceAccount.annotations) -}}
{{- if .svc.serviceAccount.roleArn -}}
{{- $_ := set $ann "eks.amazonaws.com/role-arn" .svc.serviceAccount.roleArn -}}
{{- else if and .aws .root.Values.iam.irsa -}}
{{- $_ := set $ann "eks.amazonaws.com/role-arn" (include "sa.roleArn" (dict "root" .root "role" (printf "%s%s" .root.Values.iam.rolePrefix .name))) -}}
{{- end -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "sa.labels" (dict "root" .root "name" .name) | nindent 4 }}
  {{- with $ann }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* A service's own ConfigMap, config-<name>; call with data: the rendered data. */}}
{{- define "sa.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-{{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "sa.labels" (dict "root" .root "name" .name) | nindent 4 }}
data:
  {{- .data | nindent 2 }}
{{- end }}

{{/* The envFrom list every container has: config-aws, config-<name>, and the
optional development credentials Secret. */}}
{{- define "sa.envFrom" -}}
- configMapRef:
    name: config-aws
- configMapRef:
    name: config-{{ .name }}
{{- with .root.Values.aws.credentialsSecret }}
- secretRef:
    name: {{ . }}
    optional: true
{{- end }}
{{- end }}

{{/* The hardened container securityContext (distroless nonroot user). */}}
{{- define "sa.containerSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
A service's Knative Service. Besides root, name and svc it takes:
  data:        the rendered data of its ConfigMap (hashed into the revision template,
               so a settings change rolls out a new revision)
  env:         extra container env entries, rendered YAML list (may be empty)
  annotations: extra revision annotations, rendered YAML (may be empty)
  mounts:      container volumeMounts, rendered YAML list (may be empty)
  volumes:     pod volumes, rendered YAML list (may be empty)
*/}}
{{- define "sa.knativeService" -}}
{{- $s := .svc.scaling -}}
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "sa.labels" (dict "root" .root "name" .name) | nindent 4 }}
    {{- if eq .svc.visibility "cluster-local" }}
    networking.knative.dev/visibility: cluster-local
    {{- end }}
spec:
  template:
    metadata:
      labels:
        {{- include "sa.podLabels" . | nindent 8 }}
      annotations:
        {{- with .svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- include "sa.scrapeAnnotations" . | indent 8 }}
        {{- with .annotations }}
        {{- . | nindent 8 }}
        {{- end }}
        autoscaling.knative.dev/min-scale: {{ $s.minScale | quote }}
        autoscaling.knative.dev/max-scale: {{ $s.maxScale | quote }}
        autoscaling.knative.dev/initial-scale: {{ $s.initialScale | quote }}
        autoscaling.knative.dev/target: {{ $s.target | quote }}
        autoscaling.knative.dev/metric: {{ $s.metric | quote }}
        autoscaling.knative.dev/scale-to-zero-pod-retention-period: {{ $s.scaleToZeroRetention | quote }}
        serverless-architect.dev/config-checksum: {{ printf "%s\n%s" (include "sa.awsConfigData" .root) .data | sha256sum | quote }}
    spec:
      serviceAccountName: {{ .name }}
      containerConcurrency: {{ $s.containerConcurrency }}
      timeoutSeconds: {{ $s.timeoutSeconds }}
      containers:
        - name: {{ .name }}
          image: {{ .svc.image | quote }}
          ports:
            - name: http1
              containerPort: 8080
          envFrom:
            {{- include "sa.envFrom" . | nindent 12 }}
          {{- with .env }}
          env:
            {{- . | nindent 12 }}
          {{- end }}
          {{- with .mounts }}
          volumeMounts:
            {{- . | nindent 12 }}
          {{- end }}
          readinessProbe:
            httpGet:
              path: /readyz
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: /healthz
            periodSeconds: 10
            failureThreshold: 3
          resources:
            {{- toYaml .svc.resources | nindent 12 }}
          securityContext:
            {{- include "sa.containerSecurity" . | nindent 12 }}
      {{- with .volumes }}
      volumes:
        {{- . | nindent 8 }}
      {{- end }}
{{- end }}

{{/*
An event source: a SinkBinding to the Broker and the Deployment it binds (root, name,
svc, data as for sa.knativeService).
*/}}
{{- define "sa.source" -}}
apiVersion: sources.knative.dev/v1
kind: SinkBinding
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "sa.labels" (dict "root" .root "name" .name) | nindent 4 }}
spec:
  subject:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .name }}
  sink:
    ref:
      apiVersion: eventing.knative.dev/v1
      kind: Broker
      name: {{ .root.Values.broker.name }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "sa.labels" (dict "root" .root "name" .name) | nindent 4 }}
spec:
  replicas: {{ .svc.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
  template:
    metadata:
      labels:
        {{- include "sa.podLabels" . | nindent 8 }}
      annotations:
        {{- with .svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- include "sa.scrapeAnnotations" . | indent 8 }}
        serverless-architect.dev/config-checksum: {{ printf "%s\n%s" (include "sa.awsConfigData" .root) .data | sha256sum | quote }}
    spec:
      serviceAccountName: {{ .name }}
      terminationGracePeriodSeconds: {{ .svc.terminationGracePeriodSeconds }}
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: {{ .name }}
          image: {{ .svc.image | quote }}
          ports:
            - name: http
              containerPort: 8080
            {{- if gt (int .root.Values.metrics.port) 0 }}
            - name: metrics
              containerPort: {{ .root.Values.metrics.port }}
            {{- end }}
          envFrom:
            {{- include "sa.envFrom" . | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            failureThreshold: 3
          resources:
            {{- toYaml .svc.resources | nindent 12 }}
          securityContext:
            {{- include "sa.containerSecurity" . | nindent 12 }}
{{- end }}

{{/* A Trigger's delivery: retries, backoff and the dead-letter sink. */}}
{{- define "sa.delivery" -}}
retry: {{ .retry }}
backoffPolicy: {{ .backoffPolicy }}
backoffDelay: {{ .backoffDelay | quote }}
{{- end }}
