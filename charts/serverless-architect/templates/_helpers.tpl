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
{{- end }}

{{/* The name of the Secret holding PAGE_TOKEN_KEY. */}}
{{- define "sa.pageTokenSecret" -}}
{{- default "todo-api-page-token" .Values.pageToken.existingSecret -}}
{{- end }}

{{/* A service's ServiceAccount. */}}
{{- define "sa.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "sa.labels" (dict "root" .root "name" .name) | nindent 4 }}
  {{- with .svc.serviceAccount.annotations }}
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

{{/*
A service's Knative Service. Besides root, name and svc it takes:
  data: the rendered data of its ConfigMap (hashed into the revision template, so a
        settings change rolls out a new revision)
  env:  extra container env entries, rendered YAML list (may be empty)
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
        app.kubernetes.io/name: {{ .name }}
        app.kubernetes.io/part-of: serverless-architect
      annotations:
        {{- with .svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
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
            - configMapRef:
                name: config-aws
            - configMapRef:
                name: config-{{ .name }}
            {{- with .root.Values.aws.credentialsSecret }}
            - secretRef:
                name: {{ . }}
                optional: true
            {{- end }}
          {{- with .env }}
          env:
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

{{/* The data of ConfigMap config-todo-api: todoApi.env plus the table and DAX. */}}
{{- define "sa.todoApiConfigData" -}}
{{- $env := deepCopy .Values.todoApi.env -}}
{{- $_ := set $env "TODOS_TABLE" .Values.aws.todosTable -}}
{{- with .Values.dax.endpoint }}
{{- $_ := set $env "DAX_ENDPOINT" . -}}
{{- end }}
{{- range $k, $v := $env }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
