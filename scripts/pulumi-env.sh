# shellcheck shell=bash
# Source me (bash): `. scripts/pulumi-env.sh` — points this shell at the project's own Pulumi engine
# (built or installed by scripts/bootstrap-pulumi.sh) and at local, offline-friendly settings:
#   - .tools/bin first on PATH (pulumi, pulumi-language-python and the Python helper plugins);
#   - no update checks and no automatic plugin downloads;
#   - PULUMI_HOME inside the repo (.modelstack/pulumi-home), so the user's ~/.pulumi is untouched;
#   - the local file state backend in .modelstack/state (no `pulumi login` needed);
#   - PULUMI_CONFIG_PASSPHRASE defaults to the EMPTY passphrase when neither it nor
#     PULUMI_CONFIG_PASSPHRASE_FILE is set: that is what the `local` stack uses. Real stacks
#     (dev/staging/prod) must set their own passphrase (or use another secrets provider).
_modelstack_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
case ":$PATH:" in
    *":$_modelstack_root/.tools/bin:"*) ;;
    *) PATH="$_modelstack_root/.tools/bin:$PATH" ;;
esac
export PATH
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_HOME="$_modelstack_root/.modelstack/pulumi-home"
export PULUMI_BACKEND_URL="file://$_modelstack_root/.modelstack/state"
mkdir -p "$PULUMI_HOME" "$_modelstack_root/.modelstack/state"
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    export PULUMI_CONFIG_PASSPHRASE=""
fi
unset _modelstack_root
