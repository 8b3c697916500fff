// Command daprd is the Dapr sidecar for tasktrail's local stack, built from Go modules because
// no prebuilt binary can be downloaded here: upstream's runtime with only the components
// tasktrail uses registered (components.go).
//
// Not written yet: the runtime wiring that upstream keeps in cmd/daprd/app (parse
// options.New(os.Args[1:]), set up logging, build registry.NewOptions() from the component
// DefaultRegistry objects, security.New, runtime.FromConfig(...).Run inside a
// concurrency.RunnerManager). See docs/local-stack.md for why the build stops before that.
package main

func main() {
	panic("daprd: runtime wiring not written yet; see docs/local-stack.md")
}
