# Sourced by compare.sh and latency.sh: the Icecast2 configuration both
# benchmarks use, with ICE_SOURCE_PASS and ICE_ADMIN_PASS set by the caller.
# Usage: icecast_config DIR PORT >DIR/icecast.xml
# shellcheck shell=bash
icecast_config() { # DIR PORT
    cat <<EOF
<icecast>
  <location>loopback benchmark</location>
  <admin>bench@localhost</admin>
  <limits>
    <clients>20000</clients>
    <sources>2</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>65535</burst-size>
  </limits>
  <authentication>
    <source-password>$ICE_SOURCE_PASS</source-password>
    <relay-password>$ICE_ADMIN_PASS</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>$ICE_ADMIN_PASS</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket>
    <port>$2</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>$1/log</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
    <pidfile>$1/icecast.pid</pidfile>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>2</loglevel>
  </logging>
  <security>
    <chroot>0</chroot>
    <changeowner><user>nobody</user><group>nogroup</group></changeowner>
  </security>
</icecast>
EOF
}
