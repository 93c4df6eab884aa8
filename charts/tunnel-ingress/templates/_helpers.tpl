{{- define "tunnel-ingress.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tunnel-ingress.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tunnel-ingress.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tunnel-ingress.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tunnel-ingress.labels" -}}
{{ include "tunnel-ingress.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tunnel-ingress.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tunnel-ingress.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The rules for what the agent reads and writes in the namespaces it serves: in a ClusterRole for all
namespaces, or a Role in watchNamespace. Secrets and ConfigMaps: only those a route names are read
(one field-selected list and watch each: an Ingress's origin CA, an HTTPS listener's certificate, a
BackendTLSPolicy's CA bundle), but RBAC cannot grant by names not known in advance.
*/}}
{{- define "tunnel-ingress.namespacedRules" -}}
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["services", "secrets"]
  verbs: ["list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["list", "watch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses/status"]
  verbs: ["patch"]
# A new Event is created; a repeat updates its count.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "update"]
{{- if .Values.gatewayAPI.enabled }}
# The Gateway API (when its CRDs are installed): read the routes, grants and backend TLS policies
# (and the ConfigMaps those name), write the status of our Gateways, their routes and the policies.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways", "httproutes", "grpcroutes", "backendtlspolicies", "referencegrants"]
  verbs: ["list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways/status", "httproutes/status", "grpcroutes/status", "backendtlspolicies/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}
