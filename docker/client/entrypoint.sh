#!/bin/sh
# Connects to $VPN_SERVER with $VPN_PSK, $VPN_USER, $VPN_PASSWORD the way
# NetworkManager-l2tp does (strongSwan + xl2tpd + pppd), then pings the server's
# tunnel address. Prints CONNECTED or FAILED; stays up after success (Ctrl-C to stop).
set -u
: "${VPN_SERVER:?}" "${VPN_PSK:?}" "${VPN_USER:?}" "${VPN_PASSWORD:?}"
TUNNEL_SERVER=${VPN_TUNNEL_SERVER:-10.40.0.1}
q() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

[ -e /dev/ppp ] || mknod /dev/ppp c 108 0 || true

mkdir -p /etc/swanctl/conf.d
cat > /etc/swanctl/conf.d/l2tpsec.conf <<CONF
connections {
  l2tp {
    version = 1
    remote_addrs = $VPN_SERVER
    proposals = aes128-sha1-modp2048
    encap = yes
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      l2tp {
        mode = transport
        local_ts = dynamic[udp/1701]
        remote_ts = dynamic[udp/1701]
        esp_proposals = aes128-sha1
      }
    }
  }
}
secrets {
  ike-l2tpsec {
    secret = "$(q "$VPN_PSK")"
  }
}
CONF

mkdir -p /etc/xl2tpd /var/run/xl2tpd
cat > /etc/xl2tpd/xl2tpd.conf <<CONF
[global]
port = 1701
access control = no
force userspace = yes

[lac vpn]
lns = $VPN_SERVER
pppoptfile = /etc/ppp/options.l2tp-client
require authentication = no
length bit = yes
redial = no
autodial = no
CONF

umask 077
cat > /etc/ppp/options.l2tp-client <<CONF
ipcp-accept-local
ipcp-accept-remote
refuse-pap
refuse-chap
refuse-eap
refuse-mschap
noccp
noauth
name "$(q "$VPN_USER")"
password "$(q "$VPN_PASSWORD")"
usepeerdns
mtu 1400
mru 1400
noipdefault
nodefaultroute
lcp-echo-interval 30
lcp-echo-failure 4
CONF

fail() { echo "FAILED: $*"; exit 1; }

/usr/lib/ipsec/charon > /var/log/charon.log 2>&1 &
i=0; while [ ! -S /var/run/charon.vici ] && [ $i -lt 40 ]; do sleep 0.5; i=$((i+1)); done
[ -S /var/run/charon.vici ] || fail "charon did not start (see /var/log/charon.log)"
swanctl --load-all || fail "swanctl --load-all"
swanctl --initiate --child l2tp --timeout 30 || fail "IPsec SA not established (wrong PSK? UDP 500/4500 blocked? kernel without ESP/xfrm?)"

xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p /var/run/xl2tpd.pid -C /var/run/xl2tpd/l2tp-control > /var/log/xl2tpd.log 2>&1 &
i=0; while [ ! -p /var/run/xl2tpd/l2tp-control ] && [ $i -lt 20 ]; do sleep 0.5; i=$((i+1)); done
echo "c vpn" > /var/run/xl2tpd/l2tp-control
i=0; while ! ip -4 addr show dev ppp0 2>/dev/null | grep -q inet && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done
ip -4 addr show dev ppp0 2>/dev/null | grep -q inet || { cat /var/log/xl2tpd.log; fail "no ppp0 address (wrong user/password? kernel without PPP?)"; }
ip -4 addr show dev ppp0
ping -c 3 -W 2 -I ppp0 "$TUNNEL_SERVER" || fail "no answer from $TUNNEL_SERVER through the tunnel"
echo "CONNECTED: $(ip -4 -o addr show dev ppp0 | awk '{print $4}') via $VPN_SERVER"
trap 'echo "d vpn" > /var/run/xl2tpd/l2tp-control; swanctl --terminate --ike l2tp >/dev/null 2>&1; exit 0' INT TERM
while :; do sleep 3600 & wait $!; done
