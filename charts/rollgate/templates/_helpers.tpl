{{/* The release's name, with the chart's unless it already contains it (63 characters at most). */}}
{{- define "rollgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rollgate.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rollgate.labels" -}}
{{ include "rollgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "rollgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rollgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The rights on namespaced objects: in a ClusterRole, or a Role in `watchNamespace`. */}}
{{- define "rollgate.namespacedRules" -}}
# Rollouts it drives (a finalizer, status), Incidents it records, and (as a hub) Releases it
# takes across member clusters. A hub reads its member clusters' kubeconfigs from Secrets
# labelled rollgate.dev/cluster=member in the Release's namespace, through the Secret rights
# below: RBAC cannot select Secrets by label, so set watchNamespace to confine a hub's Secret
# reading to its own namespace.
- apiGroups: [rollgate.dev]
  resources: [rollouts, incidents, releases]
  verbs: [get, list, watch, patch, update]
- apiGroups: [rollgate.dev]
  resources: [incidents]
  verbs: [create]
# IncidentChannels are watched (a Rollout naming a missing one says so at once) and read by
# name when an incident is delivered.
- apiGroups: [rollgate.dev]
  resources: [incidentchannels]
  verbs: [get, list, watch]
- apiGroups: [rollgate.dev]
  resources: [rollouts/status, incidents/status, releases/status]
  verbs: [patch]
- apiGroups: [rollgate.dev]
  resources: [rollouts/finalizers, incidents/finalizers, releases/finalizers]
  verbs: [update]
# The target Deployment (its replicas) and the stable/canary tracks it owns, all written by
# patches (server-side apply), and replaces a track edited by hand (update). No delete: the tracks go with their Rollout (owner references).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, update]
# rollgate's record of each verified pod template (a ControllerRevision per revision), to
# restore a deleted or hand-edited track; collected when no longer stable or canary.
- apiGroups: [apps]
  resources: [controllerrevisions]
  verbs: [get, list, watch, create, delete]
# With spec.traffic: the tracks' Services (`<service>-stable`, `-canary`), applied beside the
# user's Service, read by name; never deleted (they go with their Rollout).
- apiGroups: [""]
  resources: [services]
  verbs: [get, create, patch]
# With spec.traffic: the HTTPRoute's weights (a user's route is updated conditionally, never
# overwritten; a managed one is applied). Its status is the Gateway's and is never written.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, create, patch, update]
# HPAs follow the Rollout: one scaling the target is re-pointed at the Rollout on adoption,
# and back at the target on hand-back (only scaleTargetRef changes).
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, patch]
# Handing a workload back counts its ready pods; nothing else is done to pods.
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
# Config snapshots of the tracks (create, collect old ones); Prometheus and channel
# credentials (get). list/watch serve a metadata-only watch, which RBAC cannot tell from a
# full one; the admission policy limits create and delete to snapshots.
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch, create, delete]
# kube's event recorder creates events and patches their series.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* The controller's image: pinned by digest when one is given, else by tag (appVersion by default). */}}
{{- define "rollgate.image" -}}
{{- with .Values.image.digest -}}
{{- printf "%s@%s" $.Values.image.repository . -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The volume source of the private CA (`extraCA`), empty when none is set. */}}
{{- define "rollgate.extraCA" -}}
{{- with .Values.extraCA -}}
{{- if and .configMap .secret -}}
{{- fail "extraCA: set configMap or secret, not both" -}}
{{- else if .configMap -}}
configMap:
  name: {{ .configMap }}
  items: [{key: {{ .key }}, path: ca.crt}]
{{- else if .secret -}}
secret:
  secretName: {{ .secret }}
  items: [{key: {{ .key }}, path: ca.crt}]
{{- end -}}
{{- end -}}
{{- end -}}
