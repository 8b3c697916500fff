// Command daprd is the Dapr sidecar for tasktrail's local stack, built from Go modules because
// no prebuilt binary can be downloaded here. It is upstream's daprd with only the components
// tasktrail uses registered (components.go).
package main

func main() {
	Run()
}
