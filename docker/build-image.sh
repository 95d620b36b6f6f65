#!/bin/sh
# Builds the l2tpsec server image where there is no Docker Hub: the base image is made
# here (debootstrap of Debian 12 "bookworm", minbase, plus this host's Node.js 20: node,
# its headers, npm; Debian 12 ships Node 18) and loaded with `docker import`;
# docker/Dockerfile is then built on it instead of node:20-slim. Then the image is run
# once on an empty /etc/l2tpsec, as a user would, inside a network of its own (a veth
# pair made inside the container for a default route): the first start must create the
# config, hand over the credentials in a 0600 file and bring the daemon up.
#
#   sudo docker/build-image.sh            # image "l2tpsec", base "l2tpsec-base:bookworm-node20"
#
# Needs: root, a running Docker engine, debootstrap, a Debian mirror and the npm registry
# (the build runs with --network host: no bridge or NAT rules are needed on the host).
# Where Docker Hub is reachable, plain `docker build -f docker/Dockerfile -t l2tpsec .`
# does the same on node:20-slim.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${L2TPSEC_BASE_IMAGE:-l2tpsec-base:bookworm-node20}
IMAGE=${L2TPSEC_IMAGE:-l2tpsec}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=${DOCKER:-docker}

work=$(mktemp -d /tmp/l2tpsec-image-XXXXXX)
container=""
cleanup() {
  [ -n "$container" ] && $DOCKER rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

if ! $DOCKER image inspect "$BASE" >/dev/null 2>&1; then
  echo "== base image $BASE: debootstrap bookworm ($MIRROR) + this host's Node.js 20"
  [ -x /usr/bin/node ] && [ -d /usr/lib/node_modules/npm ] && [ -d /usr/include/node ] || { echo "needs Node.js 20 installed in /usr (node, npm, headers)" >&2; exit 1; }
  /usr/bin/node -e 'process.exit(Number(process.versions.node.split(".")[0]) === 20 ? 0 : 1)' || { echo "this host's node is not Node 20" >&2; exit 1; }
  debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # node, its headers (node-gyp) and the global modules (npm, corepack) as installed here
  tar -C / -cf "$work/node.tar" usr/bin/node usr/bin/npm usr/bin/npx usr/bin/corepack usr/include/node usr/lib/node_modules
  tar -C "$work/rootfs" -xpf "$work/node.tar"
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/archives/"*.deb
  # Behind a TLS-inspecting proxy (NODE_EXTRA_CA_CERTS set here), npm in the build needs
  # the same extra CA: it goes into the base image, and the variable with it.
  extra=""
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    mkdir -p "$work/rootfs/usr/local/share/ca-certificates"
    cp "$NODE_EXTRA_CA_CERTS" "$work/rootfs/usr/local/share/ca-certificates/build-host-extra.crt"
    extra=/usr/local/share/ca-certificates/build-host-extra.crt
  fi
  tar -C "$work/rootfs" -cf - . | $DOCKER import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    ${extra:+--change "ENV NODE_EXTRA_CA_CERTS=$extra"} \
    --change 'CMD ["bash"]' - "$BASE" >/dev/null
  rm -rf "$work/rootfs"
fi

echo "== image $IMAGE on $BASE"
# The context holds only what the Dockerfile copies (the classic builder, which needs no
# buildx, does not read docker/Dockerfile.dockerignore).
mkdir -p "$work/context/docker"
(cd "$ROOT" && cp -r package.json package-lock.json tsconfig.json tsconfig.build.json native src "$work/context/")
rm -rf "$work/context/native/build"
cp "$ROOT/docker/entrypoint.sh" "$ROOT/docker/Dockerfile" "$work/context/docker/"
# npm_config_nodedir: node-gyp takes the headers of the base's node (/usr/include/node)
# instead of downloading them from nodejs.org.
DOCKER_BUILDKIT=0 $DOCKER build --network host --build-arg "BASE=$BASE" --build-arg npm_config_nodedir=/usr \
  -f "$work/context/docker/Dockerfile" -t "$IMAGE" "$work/context"

echo "== first start of $IMAGE on an empty /etc/l2tpsec"
# as the README runs it (/proc/sys is read-only in a container: forwarding is set by Docker)
container=$($DOCKER run -d --network none --cap-add NET_ADMIN --device /dev/net/tun \
  --sysctl net.ipv4.ip_forward=1 --entrypoint sleep "$IMAGE" 600)
# an uplink with a default route inside the container's own network namespace
$DOCKER exec "$container" sh -c 'ip link add up0 type veth peer name up1 && ip address add 192.0.2.2/24 dev up0 &&
  ip link set up1 up && ip link set up0 up && ip route add default via 192.0.2.1'
$DOCKER exec "$container" sh -c 'timeout -s TERM 15 /usr/local/bin/l2tpsec-entrypoint l2tpsec serve --config /etc/l2tpsec/l2tpsec.toml' >"$work/serve.log" 2>&1 || true
cat "$work/serve.log"
ok=1
grep -q '"event":"init.credentials"' "$work/serve.log" || { echo "FAIL: no init.credentials log line" >&2; ok=0; }
grep -q '"event":"daemon.start"' "$work/serve.log" || { echo "FAIL: the daemon did not start" >&2; ok=0; }
grep -q '"event":"daemon.stop"' "$work/serve.log" || { echo "FAIL: no clean stop on SIGTERM" >&2; ok=0; }
mode=$($DOCKER exec "$container" stat -c %a /etc/l2tpsec/initial-credentials.txt 2>/dev/null || echo none)
[ "$mode" = 600 ] || { echo "FAIL: /etc/l2tpsec/initial-credentials.txt mode $mode" >&2; ok=0; }
psk=$($DOCKER exec "$container" sh -c "sed -n 's/^psk = \"\\(.*\\)\"/\\1/p' /etc/l2tpsec/l2tpsec.toml")
if [ -z "$psk" ] || grep -qF "$psk" "$work/serve.log"; then echo "FAIL: PSK missing from the config, or printed to stdout" >&2; ok=0; fi
$DOCKER exec "$container" l2tpsec check --config /etc/l2tpsec/l2tpsec.toml || { echo "FAIL: check" >&2; ok=0; }
[ "$ok" = 1 ] && echo "OK: $IMAGE built and started once" || exit 1
