#!/usr/bin/env bash
# make demo: the main job of bkctl on a local real cluster — kube-apiserver with kwok nodes
# kwok-amd64/kwok-arm64, a real buildkitd behind every builder pod, a local registry.
# Leaves the environment running and says how to use and stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
BKCTL=${BKCTL:-bin/bkctl}
FILE=examples/builders.yaml
bold() { if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
has() { "$BKCTL" "$1" --help >/dev/null 2>&1; }

bold "start the local environment (control plane, kwok nodes, registry, buildkitd per pod)"
exports=$(go run ./hack/testenv up)
eval "$exports"
echo "$exports"

bold "bkctl validate $FILE"
"$BKCTL" validate "$FILE"

bold "bkctl render -f $FILE   (first 30 lines)"
rendered=$("$BKCTL" render -f "$FILE")
head -30 <<<"$rendered"
echo "… ($(grep -c '^kind:' <<<"$rendered") objects)"

if has plan && has apply; then
  bold "bkctl plan -f $FILE"
  "$BKCTL" plan -f "$FILE" || true
  bold "bkctl apply -f $FILE"
  "$BKCTL" apply -f "$FILE"
  bold "bkctl plan -f $FILE --exit-code   (in sync: exit 0)"
  "$BKCTL" plan -f "$FILE" --exit-code
  bold "drift: kubectl scale deployment/builder-amd64 --replicas=3, then bkctl plan shows it"
  .testenv/bin/kubectl -n buildkit scale deployment/builder-amd64 --replicas=3
  "$BKCTL" plan -f "$FILE" --exit-code || echo "(exit $?: changes pending)"
  bold "bkctl apply -f $FILE   (reverts the drift)"
  "$BKCTL" apply -f "$FILE"
  bold "bkctl apply -f $FILE   (again: in sync, nothing is sent)"
  "$BKCTL" apply -f "$FILE"
else
  echo "(plan/apply are not built yet: the demo stops after render)"
fi

if has run; then
  image="$BKCTL_TESTENV_REGISTRY/demo/hello:latest"
  bold "bkctl run --builder kube --platform linux/amd64,linux/arm64 --push -t $image examples/hello"
  "$BKCTL" run --builders-file "$FILE" --builder kube --platform linux/amd64,linux/arm64 \
    --build-context "base=oci-layout://$BKCTL_TESTENV_BASE_LAYOUT@$BKCTL_TESTENV_BASE_DIGEST" --push -t "$image" --progress plain examples/hello
  bold "the pushed index"
  curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$BKCTL_TESTENV_REGISTRY/v2/demo/hello/manifests/latest"; echo
fi

if has bake; then
  bold "bkctl bake (examples/hello/docker-bake.hcl: 4 targets × 2 platforms, spread over each node's pods)"
  bkctl=$(realpath "$BKCTL")
  meta=$(mktemp)
  (cd examples/hello &&
    BASE="oci-layout://$BKCTL_TESTENV_BASE_LAYOUT@$BKCTL_TESTENV_BASE_DIGEST" REGISTRY="$BKCTL_TESTENV_REGISTRY" \
      "$bkctl" bake --builders-file ../builders.yaml --builder kube --allow "fs.read=$BKCTL_TESTENV_BASE_LAYOUT" \
      --metadata-file "$meta" --progress quiet)
  bold "the pushed images (--metadata-file; bkctl status below counts each pod's builds)"
  grep -E '"(image.name|containerimage.digest|buildx.build.ref)"' "$meta" | tr -d ' ",' | paste - - -
  rm -f "$meta"
fi

if has ls && has status; then
  bold "bkctl ls -f $FILE"
  "$BKCTL" ls -f "$FILE"
  bold "bkctl status -f $FILE"
  "$BKCTL" status -f "$FILE"
fi

bold "the environment keeps running"
cat <<MSG
Talk to the cluster:   export KUBECONFIG=$KUBECONFIG
                       $(pwd)/.testenv/bin/kubectl get nodes,deploy,pods -A
Stop everything:       make testenv-down
MSG
