// Command kube is modelstack's multi-call binary of a single-node Kubernetes test cluster: the
// control plane, the node agents, etcd and kubectl, built from Go modules by scripts/cluster.sh.
//
// The component is chosen by the name the binary is called by (a symlink such as
// .tools/kube/<version>/bin/kubectl -> kube), or else by the first argument:
//
//	kube kube-apiserver --etcd-servers=...
//	kubectl get nodes            (symlink)
//
// `kube` alone, `kube help` or `kube --help` lists the components.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as the upstream mains
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "time/tzdata" // CronJob time zones (the apiserver and controller-manager mains do the same)
)

// runCobra runs a component's cobra command the way its upstream main does.
func runCobra(newCommand func() *cobra.Command) func() int {
	return func() int { return cli.Run(newCommand()) }
}

var components = map[string]func() int{
	"kube-apiserver":          runCobra(apiserver.NewAPIServerCommand),
	"kube-controller-manager": runCobra(controllermanager.NewControllerManagerCommand),
	"kube-scheduler": runCobra(func() *cobra.Command {
		return scheduler.NewSchedulerCommand()
	}),
	"kubelet": runCobra(func() *cobra.Command {
		return kubelet.NewKubeletCommand(context.Background())
	}),
	"kube-proxy": runCobra(proxy.NewProxyCommand),
	"kubectl": func() int {
		logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
		if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return 0
	},
	"etcd": func() int {
		etcdmain.Main(os.Args)
		return 0
	},
}

func names() []string {
	out := make([]string, 0, len(components))
	for name := range components {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func usage(code int) {
	w := os.Stderr
	if code == 0 {
		w = os.Stdout
	}
	fmt.Fprintf(w, "usage: kube COMPONENT [ARGS...]   (or call it through a symlink named COMPONENT)\n")
	fmt.Fprintf(w, "components: %s\n", strings.Join(names(), ", "))
	os.Exit(code)
}

func main() {
	name := filepath.Base(os.Args[0])
	if _, ok := components[name]; !ok {
		if len(os.Args) < 2 {
			usage(2)
		}
		switch os.Args[1] {
		case "help", "-h", "--help":
			usage(0)
		}
		name = os.Args[1]
		if _, ok := components[name]; !ok {
			fmt.Fprintf(os.Stderr, "kube: unknown component %q\n", name)
			usage(2)
		}
		// Every component sees the argv it would see as its own binary: cobra, kubectl's
		// plugin lookup and etcd's flag parsing all read os.Args.
		os.Args = append([]string{name}, os.Args[2:]...)
	}
	os.Exit(components[name]())
}
