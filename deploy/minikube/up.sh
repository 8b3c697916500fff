#!/usr/bin/env bash
# From an empty Minikube to tasktrail's UI in a browser: Dapr, the Strimzi operator and a
# single-node Kafka, the chart with its in-cluster PostgreSQL, the image built inside Minikube.
# Runs on your machine (it needs minikube, kubectl, helm and internet access); README.md beside
# this file explains every step and what to do when one fails.
#
#   deploy/minikube/up.sh            set everything up (idempotent: run it again after a change)
#   deploy/minikube/up.sh --open     ... then port-forward the UI to http://127.0.0.1:8080
#   deploy/minikube/up.sh --delete   delete the Minikube profile (everything above goes with it)
#
# Env: MINIKUBE_PROFILE (tasktrail), MINIKUBE_CPUS (4), MINIKUBE_MEMORY (8192, MB),
# DAPR_VERSION (1.17.13), STRIMZI_VERSION (0.49.0; 0.49 is the first with kafka.strimzi.io/v1),
# NAMESPACE (tasktrail), IMAGE_TAG (local-<git short sha>).
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${MINIKUBE_PROFILE:-tasktrail}
dapr_version=${DAPR_VERSION:-1.17.13}
strimzi_version=${STRIMZI_VERSION:-0.49.0}
namespace=${NAMESPACE:-tasktrail}
tag=${IMAGE_TAG:-local-$(git rev-parse --short HEAD 2>/dev/null || echo dev)}
chart=deploy/helm/tasktrail

say() { printf '\n== %s\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "up.sh: $1 is not installed (see deploy/minikube/README.md)" >&2; exit 1; }; }

case "${1:-}" in
  --delete) minikube delete -p "$profile"; exit 0 ;;
  --open | "") ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
esac
for tool in minikube kubectl helm; do need "$tool"; done

say "Minikube profile $profile (Strimzi and three services with sidecars need about 4 CPUs and 8 GB)"
if ! minikube status -p "$profile" >/dev/null 2>&1; then
  minikube start -p "$profile" --cpus "${MINIKUBE_CPUS:-4}" --memory "${MINIKUBE_MEMORY:-8192}"
fi
kubectl config use-context "$profile" >/dev/null
# The api's HorizontalPodAutoscaler reads CPU from the metrics server.
minikube -p "$profile" addons enable metrics-server >/dev/null

say "Dapr $dapr_version (dapr-system)"
helm repo add dapr https://dapr.github.io/helm-charts/ >/dev/null 2>&1 || true
helm repo update dapr >/dev/null
# The injector drops every capability of the sidecars only when asked; the chart's pods run
# under the `restricted` Pod Security Standard's rules.
helm upgrade --install dapr dapr/dapr --version "$dapr_version" \
  --namespace dapr-system --create-namespace --wait --timeout 10m \
  --set dapr_sidecar_injector.sidecarDropALLCapabilities=true

say "Strimzi $strimzi_version (watching namespace kafka) and a single-node Kafka"
helm upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
  --version "$strimzi_version" --namespace kafka --create-namespace --wait --timeout 10m
kubectl apply -f deploy/minikube/kafka.yaml
echo "waiting for Kafka to be ready (first time: a few minutes while images download) ..."
kubectl -n kafka wait kafka/tasktrail --for=condition=Ready --timeout=15m

say "The tasktrail image, built inside Minikube as tasktrail:$tag (first time: ~10-15 minutes)"
minikube -p "$profile" image build -t "tasktrail:$tag" .

say "The chart (release tasktrail, namespace $namespace)"
helm upgrade --install tasktrail "$chart" --namespace "$namespace" --create-namespace \
  -f "$chart/values-strimzi.yaml" \
  --set image.repository=tasktrail --set "image.tag=$tag" --set image.pullPolicy=Never \
  --set service.type=ClusterIP --wait --timeout 10m
for svc in api audit notify; do
  kubectl -n "$namespace" rollout status "deploy/tasktrail-$svc" --timeout=5m
done
kubectl -n "$namespace" get pods

say "Ready"
echo "Open the UI:  kubectl -n $namespace port-forward svc/tasktrail-api 8080:80   then http://127.0.0.1:8080/"
echo "Check it:     helm test tasktrail -n $namespace"
if [ "${1:-}" = --open ]; then
  echo "port-forwarding http://127.0.0.1:8080/ (Ctrl-C to stop) ..."
  exec kubectl -n "$namespace" port-forward svc/tasktrail-api 8080:80
fi
