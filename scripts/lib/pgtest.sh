# Shared by the scripts that run real PostgreSQL servers for pgtls
# (make-samples.sh, live-test.sh, make-bench-captures.sh): logging, running
# as the postgres user, and a throwaway CA with a server certificate.
# Source it; it defines functions only.

log() { printf '== %s\n' "$*" >&2; }
warn() { printf '!! %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

as_pg() { runuser -u postgres -- "$@"; }

# make_pki DIR LABEL DAYS: a throwaway root CA (DIR/ca.pem, ca.key) and a
# server certificate for localhost, 127.0.0.1 and ::1 (DIR/server.crt,
# server.key) readable by the postgres user. Sets CA=DIR/ca.pem.
make_pki() {
    local dir=$1 label=$2 days=${3:-30}
    log "making a throwaway CA and a server certificate for localhost"
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
        -subj "/CN=pgtls $label throwaway root CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    cat >"$dir/server.ext" <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days "$days" -sha256 -extfile "$dir/server.ext" \
        -out "$dir/server.crt" 2>/dev/null
    chown postgres: "$dir/server.key" "$dir/server.crt" "$dir/ca.key"
    chmod 600 "$dir/server.key" "$dir/ca.key"
    chmod 644 "$dir/server.crt" "$dir/ca.pem"
    CA=$dir/ca.pem
}

# init_cluster DATA LOG: a new PostgreSQL cluster owned by postgres (trust
# authentication locally; callers add their own pg_hba.conf and settings).
init_cluster() {
    local data=$1 logfile=$2
    as_pg "$PGBIN/initdb" -D "$data" -U postgres -A trust --no-sync >"$logfile" 2>&1 \
        || { cat "$logfile" >&2; die "initdb failed"; }
}

# write_legacy_openssl_conf FILE: an OpenSSL config that lets clients offer
# TLS 1.0/1.1 and weak ciphers whatever the system's MinProtocol (use it as
# OPENSSL_CONF for the old-version and weak-cipher captures).
write_legacy_openssl_conf() {
    cat >"$1" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1
CipherString = DEFAULT@SECLEVEL=0
EOF
}
