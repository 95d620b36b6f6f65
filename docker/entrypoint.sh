#!/bin/sh
# Server container entrypoint: with L2TPSEC_PSK set and no config yet, write one;
# with L2TPSEC_USER/L2TPSEC_PASSWORD set, make sure that user exists. Then run CMD.
# Without those variables, "l2tpsec serve --config FILE" creates FILE itself on the first
# start (taking hwdsl2's VPN_* variables into account).
set -eu
CONFIG=${L2TPSEC_CONFIG:-/etc/l2tpsec/l2tpsec.toml}
if [ ! -e "$CONFIG" ] && [ -n "${L2TPSEC_PSK:-}" ]; then
  mkdir -p "$(dirname "$CONFIG")" && umask 077
  # TOML basic string: escape backslashes and double quotes.
  psk=$(printf '%s' "$L2TPSEC_PSK" | sed 's/\\/\\\\/g; s/"/\\"/g')
  cat > "$CONFIG" <<TOML
[server]
listen = "0.0.0.0"
hostname = "l2tpsec"
[ipsec]
psk = "$psk"
[ppp]
pool = "${L2TPSEC_POOL:-10.40.0.0/24}"
dns = ["1.1.1.1", "9.9.9.9"]
users_file = "users.toml"
[nat]
masquerade = true
out_interface = "auto"
[log]
format = "${L2TPSEC_LOG_FORMAT:-pretty}"
TOML
fi
if [ -e "$CONFIG" ] && [ -n "${L2TPSEC_USER:-}" ] && [ -n "${L2TPSEC_PASSWORD:-}" ]; then
  if ! l2tpsec users list --config "$CONFIG" | cut -f1 | grep -qxF "$L2TPSEC_USER"; then
    printf '%s\n' "$L2TPSEC_PASSWORD" | l2tpsec users add "$L2TPSEC_USER" --config "$CONFIG"
  fi
fi
exec "$@"
