# shellcheck shell=bash
# Source me (bash): `. scripts/pulumi-env.sh [STACK]` — points this shell at the project's own
# Pulumi engine (built or installed by scripts/bootstrap-pulumi.sh) and, when that is what you
# want, at local, offline-friendly settings. STACK (or MODELSTACK_STACK) names the stack you are
# about to use; scripts/local-up.sh and scripts/test.sh pass `local`.
#
# Local mode: the stack is `local` or `e2e...`, OR you have set up no Pulumi backend of your own
# (PULUMI_BACKEND_URL unset and no current backend from `pulumi login` in the credentials.json of
# $PULUMI_HOME, else ~/.pulumi). Then:
#   - .tools/bin first on PATH (pulumi, pulumi-language-python and the Python helper plugins);
#   - PULUMI_BACKEND_URL=file://<repo>/.modelstack/state: the local file state backend (no
#     `pulumi login` needed). For a local/e2e stack this replaces a backend you had set; yours is
#     kept in MODELSTACK_USER_PULUMI_BACKEND_URL and a note says so;
#   - PULUMI_HOME=<repo>/.modelstack/pulumi-home unless you set PULUMI_HOME (your ~/.pulumi is untouched);
#   - no update checks and no automatic plugin downloads (unless you set those variables);
#   - PULUMI_CONFIG_PASSPHRASE defaults to the EMPTY passphrase when neither it nor
#     PULUMI_CONFIG_PASSPHRASE_FILE is set: that is what the `local` stack uses.
# Your mode: any other stack while you have a backend of your own (a `pulumi login`, or
# PULUMI_BACKEND_URL). Only .tools/bin is added, at the END of PATH (a `pulumi` of yours still
# wins); your backend, PULUMI_HOME, plugins, update checks and passphrase are left as they are.
# Real stacks (dev/staging/prod) must use their own passphrase or secrets provider.
#
# Afterwards MODELSTACK_PULUMI_MODE says which: `local` or `user`.
_modelstack_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_modelstack_stack="${1:-${MODELSTACK_STACK:-}}"

# The user's own backend, if any: PULUMI_BACKEND_URL, else `current` in credentials.json.
_modelstack_user_backend=""
if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
    _modelstack_user_backend="$PULUMI_BACKEND_URL"
else
    _modelstack_credentials="${PULUMI_HOME:-${HOME:-~}/.pulumi}/credentials.json"
    if [ -r "$_modelstack_credentials" ]; then
        if command -v jq >/dev/null 2>&1; then
            _modelstack_user_backend="$(jq -r '.current // empty' "$_modelstack_credentials" 2>/dev/null || true)"
        else
            echo "pulumi-env: jq is not installed, so $_modelstack_credentials (your pulumi login) was not read; install jq (sudo scripts/install-system-deps.sh)" >&2
        fi
    fi
    unset _modelstack_credentials
fi

case "$_modelstack_stack" in
    local|e2e|e2e-*|e2e_*) MODELSTACK_PULUMI_MODE=local ;;
    *) if [ -n "$_modelstack_user_backend" ]; then MODELSTACK_PULUMI_MODE=user; else MODELSTACK_PULUMI_MODE=local; fi ;;
esac
export MODELSTACK_PULUMI_MODE

if [ "$MODELSTACK_PULUMI_MODE" = local ]; then
    case ":$PATH:" in
        *":$_modelstack_root/.tools/bin:"*) ;;
        *) PATH="$_modelstack_root/.tools/bin:$PATH" ;;
    esac
    export PATH
    export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"
    export PULUMI_HOME="${PULUMI_HOME:-$_modelstack_root/.modelstack/pulumi-home}"
    if [ -n "${PULUMI_BACKEND_URL:-}" ] && [ "$PULUMI_BACKEND_URL" != "file://$_modelstack_root/.modelstack/state" ]; then
        export MODELSTACK_USER_PULUMI_BACKEND_URL="$PULUMI_BACKEND_URL"
        echo "pulumi-env: stack '$_modelstack_stack' uses the local file backend; your PULUMI_BACKEND_URL is kept in MODELSTACK_USER_PULUMI_BACKEND_URL" >&2
    fi
    export PULUMI_BACKEND_URL="file://$_modelstack_root/.modelstack/state"
    mkdir -p "$PULUMI_HOME" "$_modelstack_root/.modelstack/state"
    if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        export PULUMI_CONFIG_PASSPHRASE=""
    fi
else
    case ":$PATH:" in
        *":$_modelstack_root/.tools/bin:"*) ;;
        *) PATH="$PATH:$_modelstack_root/.tools/bin" ;;
    esac
    export PATH
fi
unset _modelstack_root _modelstack_stack _modelstack_user_backend
