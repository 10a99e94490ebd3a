#!/usr/bin/env bash
# Starts etcd and kube-apiserver (from test/e2e/build-control-plane.sh) on 127.0.0.1 with the aggregation
# layer configured, runs a command against them, then stops both and removes their temp dir.
#   test/e2e/start-control-plane.sh [command ...]        (default: kubectl get ns)
# The command gets KUBECONFIG (an admin in system:masters; contexts `alice`, `viewer` and `tenant` are three more
# users, with no bindings yet: tests bind them) and CONTROL_PLANE_DIR, which holds ca.crt (signs the serving and client certs),
# front-proxy-ca.crt, front-proxy-client.{crt,key} and the logs, and CONTROLLER_MANAGER, the https URL of
# kube-controller-manager (its /debug/controllers/garbagecollector/graph answers the admin's client cert).
# kube-controller-manager runs the controllers every cluster runs that act on an aggregated API's objects: the
# namespace controller (a deleted namespace's objects are deleted through every resource discovery lists) and the
# garbage collector (metadata informers on every resource; dependents whose owner is gone are deleted), plus the
# ClusterRole aggregation controller, so the admin/edit/view roles gather labelled rules as in a real cluster.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.cache/control-plane/bin"
export PATH="$PATH:$BIN" # kubectl: the machine's, else the one build-control-plane.sh made
for b in etcd kube-apiserver kube-controller-manager; do
  [ -x "$BIN/$b" ] || { echo "$BIN/$b missing: run test/e2e/build-control-plane.sh" >&2; exit 1; }
done
[ $# -gt 0 ] || set -- kubectl get ns

DIR="$(mktemp -d)"
pids=()
cleanup() {
  local status=$?
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  rm -rf "$DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four free loopback ports, held open together so they differ.
read -r etcd_port peer_port api_port kcm_port < <(node -e '
  const net = require("net"); const s = [0, 1, 2, 3].map(() => net.createServer());
  Promise.all(s.map((x) => new Promise((r) => x.listen(0, "127.0.0.1", r))))
    .then(() => { console.log(s.map((x) => x.address().port).join(" ")); s.forEach((x) => x.close()); });')

# Certificates: ca signs the serving cert and the client certs, front-proxy-ca only the aggregator's proxy cert.
ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$DIR/$1.key" -out "$DIR/$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # name subject signer extendedKeyUsage [subjectAltName]
  openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$DIR/$1.key" -out "$DIR/$1.csr" 2>/dev/null
  openssl x509 -req -in "$DIR/$1.csr" -CA "$DIR/$3.crt" -CAkey "$DIR/$3.key" -CAcreateserial -days 2 -out "$DIR/$1.crt" \
    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s\n' \
      "$4" "${5:+subjectAltName=$5}") 2>/dev/null
}
mkdir -p "$DIR/certs"
ca ca
ca front-proxy-ca
leaf certs/apiserver /CN=kube-apiserver ca serverAuth IP:127.0.0.1,DNS:localhost
leaf certs/kube-controller-manager /CN=kube-controller-manager ca serverAuth IP:127.0.0.1,DNS:localhost
leaf admin "/O=system:masters/CN=admin" ca clientAuth
leaf alice /CN=alice ca clientAuth
leaf viewer /CN=viewer ca clientAuth
leaf tenant /CN=tenant ca clientAuth
leaf front-proxy-client /CN=front-proxy-client front-proxy-ca clientAuth
openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null

cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$DIR/ca.crt"}}]
users:
$(for u in admin alice viewer tenant; do echo "- {name: $u, user: {client-certificate: \"$DIR/$u.crt\", client-key: \"$DIR/$u.key\"}}"; done)
contexts:
- {name: e2e, context: {cluster: e2e, user: admin}}
- {name: alice, context: {cluster: e2e, user: alice}}
- {name: viewer, context: {cluster: e2e, user: viewer}}
- {name: tenant, context: {cluster: e2e, user: tenant}}
current-context: e2e
EOF

# Polls URL $1 (curl options after it) for up to 60 s; on failure shows log $DIR/$2.log.
wait_ok() {
  local url="$1" log="$2"; shift 2
  for _ in $(seq 120); do curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null && return 0; sleep 0.5; done
  echo "$url not healthy after 60 s; last lines of $log.log:" >&2; tail -n 30 "$DIR/$log.log" >&2; return 1
}

peer="http://127.0.0.1:$peer_port" client="http://127.0.0.1:$etcd_port"
"$BIN/etcd" --name=e2e --data-dir="$DIR/etcd" --listen-client-urls="$client" --advertise-client-urls="$client" \
  --listen-peer-urls="$peer" --initial-advertise-peer-urls="$peer" --initial-cluster="e2e=$peer" \
  --unsafe-no-fsync=true >"$DIR/etcd.log" 2>&1 &
pids+=($!)
wait_ok "$client/health" etcd

"$BIN/kube-apiserver" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none --secure-port="$api_port" \
  --cert-dir="$DIR/certs" --etcd-servers="$client" --service-cluster-ip-range=10.0.0.0/24 \
  --allow-privileged=true --disable-admission-plugins=ServiceAccount --authorization-mode=RBAC \
  --client-ca-file="$DIR/ca.crt" --service-account-issuer="https://127.0.0.1:$api_port/" \
  --service-account-key-file="$DIR/sa.pub" --service-account-signing-key-file="$DIR/sa.key" \
  --requestheader-client-ca-file="$DIR/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$DIR/front-proxy-client.crt" --proxy-client-key-file="$DIR/front-proxy-client.key" \
  >"$DIR/kube-apiserver.log" 2>&1 &
pids+=($!)
wait_ok "https://127.0.0.1:$api_port/healthz" kube-apiserver --cacert "$DIR/ca.crt" --cert "$DIR/admin.crt" --key "$DIR/admin.key"

# As the admin (no ServiceAccount credentials: no token controller runs). Its secure port serves /healthz and the
# garbage collector's graph to client certs of ca (system:masters needs no SubjectAccessReview).
KUBECONFIG="$DIR/kubeconfig" "$BIN/kube-controller-manager" --kubeconfig="$DIR/kubeconfig" \
  --controllers=namespace,garbagecollector,clusterrole-aggregation --use-service-account-credentials=false \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$kcm_port" \
  --tls-cert-file="$DIR/certs/kube-controller-manager.crt" --tls-private-key-file="$DIR/certs/kube-controller-manager.key" \
  --client-ca-file="$DIR/ca.crt" --authentication-kubeconfig="$DIR/kubeconfig" --authorization-kubeconfig="$DIR/kubeconfig" \
  --v=2 >"$DIR/kube-controller-manager.log" 2>&1 &
pids+=($!)
wait_ok "https://127.0.0.1:$kcm_port/healthz" kube-controller-manager --cacert "$DIR/ca.crt" --cert "$DIR/admin.crt" --key "$DIR/admin.key"

echo "control plane up: https://127.0.0.1:$api_port (etcd $client)" >&2
KUBECONFIG="$DIR/kubeconfig" CONTROL_PLANE_DIR="$DIR" CONTROLLER_MANAGER="https://127.0.0.1:$kcm_port" "$@"
