#!/usr/bin/env bash
# mint-kubeconfig.sh writes the standalone kubeconfig coredns-fed uses to watch
# one member cluster as the coredns-fed-reader ServiceAccount of deploy/member.
set -euo pipefail

readonly NAMESPACE=coredns-fed
readonly SERVICE_ACCOUNT=coredns-fed-reader
readonly TOKEN_SECRET=coredns-fed-reader-token
KUBECTL=${KUBECTL:-kubectl}

usage() {
	cat <<EOF
Usage: $(basename "$0") [options] MEMBER OUTPUT

Writes OUTPUT, a kubeconfig for the member cluster MEMBER with the token of
the ServiceAccount $NAMESPACE/$SERVICE_ACCOUNT (apply deploy/member there first).
Its cluster, user and context are all named MEMBER, so several can be merged
into one file and picked with the Corefile's "kubeconfig FILE MEMBER".
The server URL and CA are taken from the kubectl context used.

Options:
  --context NAME   kubectl context of the member cluster (default: the current one)
  --duration D     requested token lifetime, e.g. 720h (default: 720h). The API
                   server may cap it (--service-account-max-token-expiration);
                   the expiry actually granted is printed.
  --from-secret    use the long-lived token in Secret $NAMESPACE/$TOKEN_SECRET
                   (deploy/member/long-lived-token.yaml) instead of requesting one
  --no-verify      do not check the new kubeconfig with "kubectl auth can-i"
  -h, --help       show this help

Environment:
  KUBECTL          kubectl binary to use (default: kubectl)
  KUBECONFIG       where kubectl finds the member's context, as usual
EOF
}

die() {
	echo "mint-kubeconfig: error: $*" >&2
	exit 1
}

warn() {
	echo "mint-kubeconfig: warning: $*" >&2
}

context=""
duration=720h
from_secret=false
verify=true
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--context)
		[ $# -ge 2 ] || die "--context needs a value"
		context=$2
		shift 2
		;;
	--context=*)
		context=${1#*=}
		shift
		;;
	--duration)
		[ $# -ge 2 ] || die "--duration needs a value"
		duration=$2
		shift 2
		;;
	--duration=*)
		duration=${1#*=}
		shift
		;;
	--from-secret)
		from_secret=true
		shift
		;;
	--no-verify)
		verify=false
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		args+=("$@")
		break
		;;
	-*)
		die "unknown option $1 (see --help)"
		;;
	*)
		args+=("$1")
		shift
		;;
	esac
done

if [ ${#args[@]} -eq 0 ]; then
	usage >&2
	exit 2
fi
[ ${#args[@]} -eq 2 ] || die "want MEMBER and OUTPUT, got ${#args[@]} argument(s) (see --help)"
member=${args[0]}
output=${args[1]}

# MEMBER names the cluster, user and context in the kubeconfig; keep it to
# characters every tool accepts there.
case "$member" in
"" | *[!A-Za-z0-9._-]*) die "MEMBER \"$member\" may only hold letters, digits, '.', '_' and '-'" ;;
esac
out_dir=$(dirname -- "$output")
[ -d "$out_dir" ] || die "directory $out_dir (for OUTPUT) does not exist"
[ ! -d "$output" ] || die "OUTPUT $output is a directory; give a file name"

command -v "$KUBECTL" >/dev/null 2>&1 || die "$KUBECTL not found; install kubectl or set KUBECTL"

# src runs kubectl against the member cluster, with the operator's credentials.
src() {
	if [ -n "$context" ]; then
		"$KUBECTL" --context "$context" "$@"
	else
		"$KUBECTL" "$@"
	fi
}

# The current context's cluster, with any CA file inlined (--flatten).
view() {
	src config view --minify --flatten -o "jsonpath=$1"
}

if ! view '{.current-context}' >/dev/null 2>&1; then
	if [ -n "$context" ]; then
		die "no kubectl context \"$context\" (see: $KUBECTL config get-contexts)"
	fi
	die "no current kubectl context; pass --context NAME (see: $KUBECTL config get-contexts)"
fi
used_context=$(view '{.current-context}')
server=$(view '{.clusters[0].cluster.server}')
ca_data=$(view '{.clusters[0].cluster.certificate-authority-data}')
tls_server_name=$(view '{.clusters[0].cluster.tls-server-name}')
insecure=$(view '{.clusters[0].cluster.insecure-skip-tls-verify}')

[ -n "$server" ] || die "context $used_context has no server URL"
if [ -z "$ca_data" ]; then
	if [ "$insecure" = "true" ]; then
		die "context $used_context skips TLS verification and has no CA; coredns-fed must verify the member's API server, so use a context with its CA"
	fi
	warn "context $used_context has no CA; the kubeconfig will trust the system roots for $server"
fi

# Fail early, with the fix, when deploy/member is missing.
if ! err=$(src get serviceaccount "$SERVICE_ACCOUNT" -n "$NAMESPACE" -o name 2>&1 >/dev/null); then
	case "$err" in
	*NotFound* | *"not found"*)
		die "ServiceAccount $NAMESPACE/$SERVICE_ACCOUNT not found in context $used_context; apply it first: $KUBECTL --context $used_context apply -k deploy/member"
		;;
	*) die "cannot read ServiceAccount $NAMESPACE/$SERVICE_ACCOUNT in context $used_context: $err" ;;
	esac
fi

if [ "$from_secret" = true ]; then
	# The token controller fills the Secret shortly after it is created.
	token=""
	for _ in {1..30}; do
		token_b64=$(src get secret "$TOKEN_SECRET" -n "$NAMESPACE" -o 'jsonpath={.data.token}' 2>/dev/null) ||
			die "Secret $NAMESPACE/$TOKEN_SECRET not found in context $used_context; apply it first: $KUBECTL --context $used_context apply -f deploy/member/long-lived-token.yaml"
		if [ -n "$token_b64" ]; then
			token=$(printf '%s' "$token_b64" | base64 --decode)
			break
		fi
		sleep 1
	done
	[ -n "$token" ] || die "Secret $NAMESPACE/$TOKEN_SECRET has no token after 30s; is kube-controller-manager (its token controller) running?"
	expiry="never (revoke by deleting Secret $NAMESPACE/$TOKEN_SECRET)"
else
	if ! response=$(src create token "$SERVICE_ACCOUNT" -n "$NAMESPACE" --duration "$duration" \
		-o 'jsonpath={.status.token}{" "}{.status.expirationTimestamp}'); then
		die "kubectl create token $SERVICE_ACCOUNT failed in context $used_context (see above)"
	fi
	token=${response%% *}
	expiry=${response#* }
	[ -n "$token" ] || die "the API server returned an empty token"
fi

# Build the file next to OUTPUT and move it into place, so a failed run never
# leaves a half-written kubeconfig where coredns-fed reads it.
umask 077
tmp=$(mktemp "$out_dir/.mint-kubeconfig.XXXXXX")
trap 'rm -f "$tmp" "$tmp.err"' EXIT

dst() {
	"$KUBECTL" config --kubeconfig "$tmp" "$@" >/dev/null
}
dst set-cluster "$member" --server "$server"
if [ -n "$ca_data" ]; then
	# kubectl config set base64-decodes values of *-data fields.
	dst set "clusters.$member.certificate-authority-data" "$ca_data"
fi
if [ -n "$tls_server_name" ]; then
	dst set "clusters.$member.tls-server-name" "$tls_server_name"
fi
# The token is briefly visible in this host's process list; mint on a trusted machine.
dst set-credentials "$member" --token "$token"
dst set-context "$member" --cluster "$member" --user "$member"
dst use-context "$member"

if [ "$verify" = true ]; then
	# can_i sets answer to kubectl's yes or no; anything else (connection,
	# TLS, authentication) is fatal.
	answer=""
	can_i() {
		local out
		out=$("$KUBECTL" --kubeconfig "$tmp" auth can-i "$@" 2>"$tmp.err") || true
		case "$out" in
		yes*) answer=yes ;;
		no*) answer=no ;;
		*) die "cannot use the new kubeconfig against $server: $(cat "$tmp.err")" ;;
		esac
	}
	for check in "list services -A" "watch services -A" "list endpointslices.discovery.k8s.io -A" \
		"watch endpointslices.discovery.k8s.io -A" "list nodes" "watch nodes"; do
		# shellcheck disable=SC2086 # check holds several words on purpose
		can_i $check
		[ "$answer" = yes ] ||
			die "the token may not \"$check\"; apply the RBAC: $KUBECTL --context $used_context apply -k deploy/member"
	done
	for check in "get secrets -A" "create services -A"; do
		# shellcheck disable=SC2086
		can_i $check
		[ "$answer" = no ] ||
			warn "the token may also \"$check\": $SERVICE_ACCOUNT has more rights than deploy/member grants"
	done
fi

mv -f "$tmp" "$output"
rm -f "$tmp.err"
trap - EXIT
echo "wrote $output: member $member, server $server, token expires $expiry"
