// Command pylanghost is modelstack's fallback Python language host for the Pulumi engine.
//
// scripts/bootstrap-pulumi.sh installs it as .tools/bin/pulumi-language-python ONLY when Pulumi's
// own language host module (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// cannot be fetched from the Go module proxy, which is the case on proxy-only machines: that
// module is not published there. With the official installer, Pulumi's own host is used.
//
// It implements the LanguageRuntime gRPC service on top of the public Pulumi Go SDK
// (sdk/v3/proto/go for the protocol, sdk/v3/python/toolchain for virtualenv/pip handling) and
// delegates the actual program execution to Pulumi's `pulumi-language-python-exec` script, which
// the bootstrap copies next to this binary from the sdk/v3 module of the same version.
//
// Scope: running programs (pulumi up/preview/destroy/refresh), policy packs and Python plugins
// (RunPlugin), plugin discovery from installed pulumi-* packages, dependency installation and
// `pulumi about`. Code generation (pulumi convert/import --generate-code, package gen-sdk) and
// Pulumi.yaml prompts for `pulumi new` are not implemented; they answer "unimplemented".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The exit code pulumi-language-python-exec uses after it has already shown the user an
// actionable error: the engine should stop without printing a second, generic error.
const execBailExitCode = 32

// Name of Pulumi's program runner script, expected next to this executable.
const execScriptName = "pulumi-language-python-exec"

func main() {
	// The engine starts language plugins as `<plugin> [flags...] <engine address>`. Flags from
	// older or newer engines (-tracing, -root, ...) are tolerated and ignored except -tracing.
	var engineAddress, tracing string
	for _, arg := range os.Args[1:] {
		if strings.HasPrefix(arg, "-") {
			name, value, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if name == "tracing" {
				tracing = value
			}
			continue
		}
		engineAddress = arg
	}

	self, err := os.Executable()
	if err != nil {
		fatalf("cannot locate own executable: %v", err)
	}
	execScript := filepath.Join(filepath.Dir(self), execScriptName)
	if override := os.Getenv("MODELSTACK_PYTHON_EXEC"); override != "" {
		execScript = override
	}
	if _, err := os.Stat(execScript); err != nil {
		fatalf("missing %s next to %s (re-run scripts/bootstrap-pulumi.sh): %v", execScriptName, self, err)
	}

	host := &languageHost{engineAddress: engineAddress, tracing: tracing, execScript: execScript}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fatalf("could not start language host RPC server: %v", err)
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatalf("language host RPC server stopped: %v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python (modelstack): "+format+"\n", args...)
	os.Exit(1)
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	tracing       string
	execScript    string
}

func (h *languageHost) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.mu.Lock()
		h.engineAddress = req.GetEngineAddress()
		h.mu.Unlock()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// resolveToolchain maps the project's runtime options (Pulumi.yaml `runtime.options`) to the SDK's
// python toolchain, which knows how to find and activate the virtualenv.
func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	if info == nil {
		return nil, errors.New("the engine sent no program info; this language host needs a newer engine")
	}
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Pip,
	}
	o := info.GetOptions().AsMap()
	if v, ok := o["virtualenv"].(string); ok {
		opts.Virtualenv = v
	}
	switch v, _ := o["toolchain"].(string); strings.ToLower(v) {
	case "", "pip":
	case "uv":
		opts.Toolchain = toolchain.Uv
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	default:
		return nil, fmt.Errorf("unsupported python toolchain %q in Pulumi.yaml runtime options", v)
	}
	return toolchain.ResolveToolchain(opts)
}

// pythonCommand returns a command running the toolchain's python with the given environment
// (the host's own environment when env is nil), with the virtualenv activated.
func pythonCommand(
	ctx context.Context, tc toolchain.Toolchain, env []string, args ...string,
) (*exec.Cmd, error) {
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = os.Environ()
	}
	if venv, err := tc.VirtualEnvPath(ctx); err == nil && venv != "" {
		env = toolchain.ActivateVirtualEnv(env, venv)
	}
	cmd.Env = env
	return cmd, nil
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	program := req.GetProgram()
	if info := req.GetInfo(); info.GetProgramDirectory() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	args := []string{
		"-u", h.execScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine(),
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
		"--root_directory", req.GetInfo().GetRootDirectory(),
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	config := req.GetConfig()
	if config == nil {
		config = map[string]string{} // the runner expects a JSON object, not null
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON),
	)

	cmd, err := pythonCommand(ctx, tc, env, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	cmd.Dir = req.GetPwd()
	// The engine forwards our stdout/stderr to the user.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == execBailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// installedPlugin is what discoverScript prints for each installed package shipping a resource plugin.
type installedPlugin struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Server  string `json:"server"`
}

// discoverScript lists installed distributions that carry a pulumi-plugin.json declaring a
// resource plugin (the convention of Pulumi provider SDKs on PyPI) and prints them as JSON.
const discoverScript = `
import importlib.metadata as md, json, sys
found = {}
for dist in md.distributions():
    for f in dist.files or []:
        if f.name != "pulumi-plugin.json" or len(f.parts) != 2:
            continue
        try:
            meta = json.loads(f.read_text() or "{}")
        except Exception:
            continue
        if not meta.get("resource") or meta.get("parameterization"):
            continue
        name = meta.get("name") or dist.metadata["Name"].lower().removeprefix("pulumi-").removeprefix("pulumi_")
        found[name] = {"name": name, "version": meta.get("version") or dist.version,
                       "server": meta.get("server") or ""}
json.dump(sorted(found.values(), key=lambda p: p["name"]), sys.stdout)
`

func (h *languageHost) discoverPlugins(ctx context.Context, info *pulumirpc.ProgramInfo) ([]installedPlugin, error) {
	tc, err := resolveToolchain(info)
	if err != nil {
		return nil, err
	}
	cmd, err := pythonCommand(ctx, tc, nil, "-c", discoverScript)
	if err != nil {
		return nil, err
	}
	cmd.Dir = info.GetProgramDirectory()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing installed Pulumi packages failed: %w: %s", err, stderr.String())
	}
	var plugins []installedPlugin
	if err := json.Unmarshal(out, &plugins); err != nil {
		return nil, fmt.Errorf("parsing installed Pulumi packages: %w", err)
	}
	return plugins, nil
}

func semverTag(v string) string {
	if v == "" || strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}

func (h *languageHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	plugins, err := h.discoverPlugins(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range plugins {
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Name: p.Name, Kind: "resource", Version: semverTag(p.Version), Server: p.Server,
		})
	}
	return resp, nil
}

func (h *languageHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	plugins, err := h.discoverPlugins(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range plugins {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: "resource", Version: semverTag(p.Version), Server: p.Server,
		})
	}
	return resp, nil
}

// streamWriter adapts a gRPC server stream to io.Writer; send must serialise concurrent writers.
type streamWriter struct {
	send func([]byte) error
}

func (w streamWriter) Write(p []byte) (int, error) {
	buf := append([]byte(nil), p...)
	if err := w.send(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	var mu sync.Mutex
	stdout := streamWriter{send: func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	}}
	stderr := streamWriter{send: func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	}}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory()
	}
	return tc.InstallDependencies(stream.Context(), dir, req.GetUseLanguageVersionTools(),
		true /*showOutput*/, stdout, stderr)
}

func (h *languageHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	about, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: about.PythonExecutable,
		Version:    about.PythonVersion.String(),
		Metadata:   map[string]string{"languageHost": "modelstack fallback pulumi-language-python"},
	}, nil
}

func (h *languageHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

// RunPlugin runs a plugin written in Python from its directory. Policy packs (kind "analyzer")
// are started through the Python SDK's `pulumi.policy` runner with the engine address and the
// pack directory, the same entry point Pulumi's pulumi-analyzer-policy-python script uses; any
// other plugin runs its directory's __main__.py with the engine's arguments.
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	ctx := stream.Context()
	info := req.GetInfo()
	tc, err := resolveToolchain(info)
	if err != nil {
		return err
	}
	dir := info.GetProgramDirectory()
	var args []string
	workDir := req.GetPwd()
	if req.GetKind() == "analyzer" {
		engineAddr := h.engine()
		if len(req.GetArgs()) > 0 {
			engineAddr = req.GetArgs()[0]
		}
		args = []string{"-u", "-m", "pulumi.policy", engineAddr, dir}
		workDir = dir
	} else {
		args = append([]string{"-u", filepath.Join(dir, info.GetEntryPoint())}, req.GetArgs()...)
	}

	env := req.GetEnv()
	if len(env) == 0 {
		env = os.Environ()
	}
	cmd, err := pythonCommand(ctx, tc, env, args...)
	if err != nil {
		return err
	}
	cmd.Dir = workDir

	var mu sync.Mutex
	send := func(r *pulumirpc.RunPluginResponse) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(r)
	}
	cmd.Stdout = streamWriter{send: func(b []byte) error {
		return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	}}
	cmd.Stderr = streamWriter{send: func(b []byte) error {
		return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	}}

	exitCode := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("running python plugin in %s: %w", dir, err)
		}
		exitCode = int32(exitErr.ExitCode())
	}
	return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: exitCode}})
}

var _ io.Writer = streamWriter{}
