// Command pulumi-language-python is Stratos's Python language host for the Pulumi
// engine: the gRPC server the CLI starts to run a Python program, a Python plugin or
// a Python policy pack.
//
// Why our own: Pulumi's host lives in the Go module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, which the Go
// module proxy reachable here refuses ("Go module path not permitted"), while
// github.com/pulumi/pulumi/sdk/v3 is served. This host is built on that sdk module
// (gRPC types, the Python toolchain that resolves virtualenvs, logging, serving) at
// the same version as the CLI, and runs programs through Pulumi's own
// `pulumi-language-python-exec` shim from that module, installed beside this binary.
// It implements what `preview`, `up`, `destroy`, `refresh`, `about` and policy packs
// use; code generation and `pulumi install` answer Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

const (
	execShim       = "pulumi-language-python-exec"
	policyLauncher = "pulumi-analyzer-policy-python"
	// The exec shim exits with this code after it has already shown the user an
	// actionable error; the engine must not add a second, vaguer one.
	exitAfterUserMessage = 32
)

func main() {
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	// Older engines pass runtime options as flags; newer ones send them in each request.
	_ = flag.String("virtualenv", "", "ignored: taken from each request's program info")
	_ = flag.String("root", "", "ignored: taken from each request's program info")
	flag.Parse()
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-python", "pulumi-language-python", *tracing)

	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}
	self, err := os.Executable()
	if err != nil {
		cmdutil.Exit(fmt.Errorf("locating this executable: %w", err))
	}
	host := &pythonHost{binDir: filepath.Dir(self), engineAddress: engineAddress, tracing: *tracing}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan bool)
	go func() { <-ctx.Done(); close(stop) }()
	// Exit when the engine goes away, so no host outlives a killed `pulumi up` (the engine
	// starts plugins in their own process group: killing the CLI's group does not reach us).
	// Polled every 2 s, not the SDK's usual 5 min, so a killed CLI leaves nothing running.
	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, 2*time.Second, cancel); err != nil {
			cmdutil.Exit(fmt.Errorf("starting the engine health check: %w", err))
		}
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("starting the language host gRPC server: %w", err))
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host stopped serving: %w", err))
	}
}

// pythonHost implements pulumirpc.LanguageRuntimeServer for Python programs.
type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	binDir        string // where this binary, the exec shim and the policy launcher live
	engineAddress string
	tracing       string
}

func (h *pythonHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if h.engineAddress == "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: strings.TrimPrefix(version.Version, "v")}, nil
}

// GetRequiredPackages reports no packages ahead of the run: the engine then loads
// each provider plugin when the program first registers one of its resources.
// Announcing every Pulumi package in the virtualenv (the venv holds pulumi-aws and
// pulumi-gcp for the cloud stacks) would only make the engine look for plugins a
// local stack never uses, and automatic plugin downloads are switched off here.
func (h *pythonHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *pythonHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

// Run executes the program through Pulumi's exec shim, which connects the Python SDK
// to the engine's resource monitor and runs the program's entry point.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	shim, err := h.sibling(execShim)
	if err != nil {
		return nil, err
	}
	args := append([]string{shim}, h.shimArgs(req)...)
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("preparing the Python command: %w", err)
	}
	env, err := programEnv(cmd.Env, req)
	if err != nil {
		return nil, err
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	logging.V(5).Infof("language host running %s %s", cmd.Path, strings.Join(cmd.Args[1:], " "))
	if err := cmd.Run(); err != nil {
		// Python may die before flushing; make sure the engine sees what it wrote.
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the Python program: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// shimArgs is the exec shim's command line: flags for the SDK's runtime settings,
// then the program path and its own arguments.
func (h *pythonHost) shimArgs(req *pulumirpc.RunRequest) []string {
	var args []string
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())
	add("root_directory", req.GetInfo().GetRootDirectory())
	args = append(args, programPath(req.GetInfo(), req.GetProgram()))
	return append(args, req.GetArgs()...)
}

// programEnv adds the stack's configuration, as the Python SDK reads it, to base
// (the toolchain's environment, or ours when it set none).
func programEnv(base []string, req *pulumirpc.RunRequest) ([]string, error) {
	if base == nil {
		base = os.Environ()
	}
	env := append([]string{}, base...)
	if cfg := req.GetConfig(); len(cfg) > 0 {
		data, err := json.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("serialising stack config: %w", err)
		}
		env = append(env, "PULUMI_CONFIG="+string(data))
	}
	if keys := req.GetConfigSecretKeys(); len(keys) > 0 {
		data, err := json.Marshal(keys)
		if err != nil {
			return nil, fmt.Errorf("serialising secret config keys: %w", err)
		}
		env = append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(data))
	}
	return env, nil
}

// RunPlugin starts a plugin written in Python. Policy packs go through the
// pulumi-analyzer-policy-python launcher beside this binary, the one place that knows
// how to start a Python policy pack (its virtualenv, the pulumi_policy runtime); any
// other plugin runs as `python <plugin dir>` with the engine's arguments.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	info := req.GetInfo()
	var cmd *exec.Cmd
	if req.GetKind() == "analyzer" {
		launcher, err := h.sibling(policyLauncher)
		if err != nil {
			return err
		}
		args := append(append([]string{}, req.GetArgs()...), ".")
		if venv := stringOption(info, "virtualenv"); venv != "" {
			args = append(args, "-virtualenv="+absUnder(info.GetRootDirectory(), venv))
		}
		cmd = exec.CommandContext(server.Context(), launcher, args...)
		cmd.Dir = info.GetProgramDirectory()
	} else {
		tc, err := resolveToolchain(info)
		if err != nil {
			return err
		}
		args := append([]string{programPath(info, req.GetProgram())}, req.GetArgs()...)
		if cmd, err = tc.Command(server.Context(), args...); err != nil {
			return fmt.Errorf("preparing the Python command: %w", err)
		}
		cmd.Dir = req.GetPwd()
	}
	if env := req.GetEnv(); len(env) > 0 {
		if cmd.Env != nil { // the toolchain activated a virtualenv: keep that on top
			env = append(append([]string{}, env...), cmd.Env...)
		}
		cmd.Env = env
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
			})
		}
		return fmt.Errorf("could not start the Python plugin %s: %w", info.GetProgramDirectory(), err)
	}
	return closer.Close()
}

func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
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
	}, nil
}

func (h *pythonHost) GetProgramDependencies(
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
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// sibling finds a helper installed beside this binary, else on PATH.
func (h *pythonHost) sibling(name string) (string, error) {
	path := filepath.Join(h.binDir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("%s is not beside %s nor on PATH; re-run scripts/setup.sh", name, h.binDir)
}

// resolveToolchain picks the Python to run from Pulumi.yaml's runtime options
// (virtualenv, toolchain); without them, PULUMI_PYTHON_CMD or python3 on PATH.
func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Virtualenv: stringOption(info, "virtualenv"),
		Toolchain:  toolchain.Pip,
	}
	switch name := stringOption(info, "toolchain"); name {
	case "", "pip":
	case "uv":
		opts.Toolchain = toolchain.Uv
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	default:
		return nil, fmt.Errorf("unknown Python toolchain %q in Pulumi.yaml; use pip, uv or poetry", name)
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, fmt.Errorf("resolving the Python toolchain: %w", err)
	}
	if opts.Virtualenv != "" {
		if err := tc.ValidateVenv(context.Background()); err != nil {
			return nil, err
		}
	}
	return tc, nil
}

func stringOption(info *pulumirpc.ProgramInfo, key string) string {
	if v, ok := info.GetOptions().GetFields()[key]; ok {
		return v.GetStringValue()
	}
	return ""
}

// programPath is the program to run: the entry point inside the program directory
// (a directory means its __main__.py), or the legacy Program field.
func programPath(info *pulumirpc.ProgramInfo, legacy string) string {
	if info.GetProgramDirectory() == "" {
		if legacy == "" {
			return "."
		}
		return legacy
	}
	return filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
}

func absUnder(root, path string) string {
	if filepath.IsAbs(path) || root == "" {
		return path
	}
	return filepath.Join(root, path)
}
