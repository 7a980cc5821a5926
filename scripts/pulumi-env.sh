# shellcheck shell=bash
# Source me (bash): `. scripts/pulumi-env.sh [STACK]` — points this shell at the project's own
# Pulumi engine (built or installed by scripts/bootstrap-pulumi.sh) and, when that is what you
# want, at local, offline-friendly settings. STACK (or MODELSTACK_STACK) names the stack you are
# about to use; scripts/local-up.sh and scripts/test.sh pass `local`.
#
# The rule is components/state/environment.py's, the one every `modelstack` command that reaches
# state follows (tests/unit/test_scripts.py runs both on one table of cases):
#
# Local mode: the stack is a throwaway one (`local`, `e2e`, `e2e-*`, `e2e_*`), OR you have set up no
# Pulumi backend of your own (PULUMI_BACKEND_URL unset and no current backend from `pulumi login` in
# the credentials.json of $PULUMI_HOME, else ~/.pulumi). Then:
#   - .tools/bin first on PATH (pulumi, pulumi-language-python and the Python helper plugins);
#   - PULUMI_BACKEND_URL=file://<repo>/.modelstack/state: the local file state backend (no
#     `pulumi login` needed). For a throwaway stack this replaces a backend you had set; yours is
#     kept in MODELSTACK_USER_PULUMI_BACKEND_URL and a note says so;
#   - PULUMI_HOME=<repo>/.modelstack/pulumi-home unless you set PULUMI_HOME (your ~/.pulumi is untouched);
#   - no update checks and no automatic plugin downloads (unless you set those variables);
#   - for a throwaway stack only, PULUMI_CONFIG_PASSPHRASE defaults to the EMPTY passphrase when
#     neither it nor PULUMI_CONFIG_PASSPHRASE_FILE is set.
# Your mode: any other stack while you have a backend of your own (a `pulumi login`, or
# PULUMI_BACKEND_URL). Only .tools/bin is added, at the END of PATH (a `pulumi` of yours still
# wins); your backend, PULUMI_HOME, plugins, update checks and passphrase are left as they are.
#
# Either way one line on stderr says which state backend the stack uses and where that came from.
# Refused (`return 1`, with the key, the rule and the fix; nothing set, nothing written):
#   - any stack that is not throwaway and whose secrets a passphrase protects (its stack file's
#     `secretsprovider:` is `passphrase` or unset, on a self-managed backend or beside an
#     `encryptionsalt:`), without a non-empty PULUMI_CONFIG_PASSPHRASE or a
#     PULUMI_CONFIG_PASSPHRASE_FILE naming a non-empty file (an empty PULUMI_CONFIG_PASSPHRASE is
#     refused even beside a file: the engine reads it first);
#   - an azblob:// backend with no storage account's name (AZURE_STORAGE_ACCOUNT, storage_account=
#     in the URL, AccountName in AZURE_STORAGE_CONNECTION_STRING).
#
# Afterwards MODELSTACK_PULUMI_MODE says which: `local` or `user`.
_modelstack_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_modelstack_stack="${1:-${MODELSTACK_STACK:-}}"
_modelstack_own="file://$_modelstack_root/.modelstack/state"

# A top-level setting (secretsprovider, encryptionsalt) of the stack's file, as its line says it.
_modelstack_setting() {
    case "$_modelstack_stack" in "" | . | .. | */*) return 0 ;; esac
    [ -r "$_modelstack_root/stacks/Pulumi.$_modelstack_stack.yaml" ] || return 0
    sed -n "s/^$1://p" "$_modelstack_root/stacks/Pulumi.$_modelstack_stack.yaml" 2>/dev/null | head -n 1 \
        | sed -E "s/[[:space:]]+#.*\$//; s/^[[:space:]]+//; s/[[:space:]]+\$//; s/^['\"]+//; s/['\"]+\$//"
}

_modelstack_cleanup() {
    unset _modelstack_root _modelstack_stack _modelstack_own _modelstack_user_backend _modelstack_user_source \
        _modelstack_throwaway _modelstack_backend _modelstack_source _modelstack_refusal _modelstack_provider \
        _modelstack_protected _modelstack_credentials _modelstack_query _modelstack_rule _modelstack_fix \
        _modelstack_shown
    unset -f _modelstack_setting _modelstack_cleanup
}

# The user's own backend, if any: PULUMI_BACKEND_URL, else `current` in credentials.json.
_modelstack_user_backend=""
_modelstack_user_source=""
if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
    _modelstack_user_backend="$PULUMI_BACKEND_URL"
    _modelstack_user_source="PULUMI_BACKEND_URL"
else
    _modelstack_credentials="${PULUMI_HOME:-${HOME:-~}/.pulumi}/credentials.json"
    if [ -r "$_modelstack_credentials" ]; then
        if command -v jq >/dev/null 2>&1; then
            _modelstack_user_backend="$(jq -r '.current // empty' "$_modelstack_credentials" 2>/dev/null || true)"
            [ -z "$_modelstack_user_backend" ] || _modelstack_user_source="pulumi login in $_modelstack_credentials"
        else
            echo "pulumi-env: jq is not installed, so $_modelstack_credentials (your pulumi login) was not read; install jq (sudo scripts/install-system-deps.sh)" >&2
        fi
    fi
fi

_modelstack_throwaway=no
case "$_modelstack_stack" in
    local | e2e | e2e-* | e2e_*) _modelstack_throwaway=yes ;;
esac

# The mode, and the backend this shell will use with where it came from.
if [ "$_modelstack_throwaway" = yes ]; then
    _modelstack_mode=local
    _modelstack_source="the local default: the local and e2e stacks keep their state in the project"
elif [ -n "$_modelstack_user_backend" ] && [ "$_modelstack_user_backend" != "$_modelstack_own" ]; then
    _modelstack_mode=user
    _modelstack_source="$_modelstack_user_source"
else
    _modelstack_mode=local
    _modelstack_source="the local default: no PULUMI_BACKEND_URL and no pulumi login"
fi
if [ "$_modelstack_mode" = local ]; then
    _modelstack_backend="$_modelstack_own"
else
    _modelstack_backend="$_modelstack_user_backend"
fi
_modelstack_shown="$(printf '%s' "$_modelstack_backend" | sed -E 's#^([A-Za-z0-9+.-]+://[^/@:]*):[^/@]*@#\1:***@#')"

# What is refused: an azblob:// backend without an account name; the empty passphrase on a stack
# that is not throwaway.
_modelstack_refusal=""
case "$(printf '%s' "$_modelstack_backend" | tr '[:upper:]' '[:lower:]')" in
    azblob://*)
        _modelstack_query=""
        case "$_modelstack_backend" in *\?*) _modelstack_query="${_modelstack_backend#*\?}" ;; esac
        if [ -z "${AZURE_STORAGE_ACCOUNT:-}" ] \
            && ! printf '&%s' "$_modelstack_query" | grep -q '&storage_account=[^&]' \
            && ! printf ';%s' "${AZURE_STORAGE_CONNECTION_STRING:-${AZURE_STORAGEBLOB_CONNECTIONSTRING:-}}" | grep -q ';AccountName=[^;]'; then
            _modelstack_refusal="AZURE_STORAGE_ACCOUNT: the state backend $_modelstack_shown (from $_modelstack_source) names no storage account
  Rule: the engine's azblob:// backend needs the storage account's name (AZURE_STORAGE_ACCOUNT, storage_account= in the URL, or AccountName in AZURE_STORAGE_CONNECTION_STRING); without it the engine stops with 'Options.AccountName is required'
  Fix: export AZURE_STORAGE_ACCOUNT=<account> with its credential (AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or az login); if that backend is not this project's (a login left by another project), set PULUMI_BACKEND_URL to this project's backend or run \`pulumi logout\`"
        fi
        ;;
esac

if [ -z "$_modelstack_refusal" ] && [ -n "$_modelstack_stack" ] && [ "$_modelstack_throwaway" = no ]; then
    _modelstack_provider="$(_modelstack_setting secretsprovider)"
    if [ -n "$_modelstack_provider" ]; then
        if [ "$_modelstack_provider" = passphrase ]; then _modelstack_protected=yes; else _modelstack_protected=no; fi
    else
        case "$(printf '%s' "$_modelstack_backend" | tr '[:upper:]' '[:lower:]')" in
            https://* | http://*)
                if [ -n "$(_modelstack_setting encryptionsalt)" ]; then _modelstack_protected=yes; else _modelstack_protected=no; fi
                ;;
            *) _modelstack_protected=yes ;;
        esac
    fi
    if [ "$_modelstack_protected" = yes ]; then
        _modelstack_rule="only the throwaway stacks (local, e2e, e2e-*, e2e_*) use the empty passphrase; any other stack whose secrets a passphrase protects needs a real one, or they are readable by anyone with its stack file or state"
        _modelstack_fix="export PULUMI_CONFIG_PASSPHRASE_FILE=<a file outside the repository holding the stack's passphrase, from your team's secret store> (docs/security.md), or move the stack's secrets to a key vault: pulumi stack change-secrets-provider --stack $_modelstack_stack 'azurekeyvault://VAULT.vault.azure.net/keys/KEY'"
        if [ "${PULUMI_CONFIG_PASSPHRASE+set}" = set ] && [ -z "$PULUMI_CONFIG_PASSPHRASE" ]; then
            _modelstack_refusal="PULUMI_CONFIG_PASSPHRASE: is set to the empty passphrase for stack $_modelstack_stack (the engine reads it before PULUMI_CONFIG_PASSPHRASE_FILE)
  Rule: $_modelstack_rule
  Fix: unset PULUMI_CONFIG_PASSPHRASE, then $_modelstack_fix"
        elif [ -n "${PULUMI_CONFIG_PASSPHRASE:-}" ]; then
            :
        elif [ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
            if ! { [ -f "$PULUMI_CONFIG_PASSPHRASE_FILE" ] && grep -q '[^[:space:]]' "$PULUMI_CONFIG_PASSPHRASE_FILE" 2>/dev/null; }; then
                _modelstack_refusal="PULUMI_CONFIG_PASSPHRASE_FILE: names $PULUMI_CONFIG_PASSPHRASE_FILE, which is missing, unreadable or empty, so stack $_modelstack_stack would have no passphrase
  Rule: $_modelstack_rule
  Fix: $_modelstack_fix"
            fi
        else
            _modelstack_refusal="PULUMI_CONFIG_PASSPHRASE: neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set, so stack $_modelstack_stack's secrets would be encrypted with the empty passphrase
  Rule: $_modelstack_rule
  Fix: $_modelstack_fix"
        fi
    fi
fi

if [ -n "$_modelstack_refusal" ]; then
    printf 'pulumi-env: refused (nothing was set): %s\n' "$_modelstack_refusal" >&2
    unset _modelstack_mode
    _modelstack_cleanup
    # sourced, as meant: return; run as a command by mistake: exit
    # shellcheck disable=SC2317
    return 1 2>/dev/null || exit 1
fi

if [ -n "$_modelstack_stack" ]; then
    echo "pulumi-env: stack $_modelstack_stack: state backend $_modelstack_shown (from $_modelstack_source)" >&2
else
    echo "pulumi-env: state backend $_modelstack_shown (from $_modelstack_source); no stack named, so no passphrase is set (name the stack: \`. scripts/pulumi-env.sh local\`)" >&2
fi

MODELSTACK_PULUMI_MODE="$_modelstack_mode"
unset _modelstack_mode
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
    if [ -n "${PULUMI_BACKEND_URL:-}" ] && [ "$PULUMI_BACKEND_URL" != "$_modelstack_own" ]; then
        export MODELSTACK_USER_PULUMI_BACKEND_URL="$PULUMI_BACKEND_URL"
        echo "pulumi-env: stack '$_modelstack_stack' uses the local file backend; your PULUMI_BACKEND_URL is kept in MODELSTACK_USER_PULUMI_BACKEND_URL" >&2
    fi
    export PULUMI_BACKEND_URL="$_modelstack_own"
    mkdir -p "$PULUMI_HOME" "$_modelstack_root/.modelstack/state"
    if [ "$_modelstack_throwaway" = yes ] && [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        export PULUMI_CONFIG_PASSPHRASE=""
    fi
else
    case ":$PATH:" in
        *":$_modelstack_root/.tools/bin:"*) ;;
        *) PATH="$PATH:$_modelstack_root/.tools/bin" ;;
    esac
    export PATH
fi
_modelstack_cleanup
