// The Gateway API release whose standard-channel CRDs the test platform installs
// (fetch.sh). Only downloaded, never compiled: the module zip carries
// config/crd/standard/*.yaml.
module rollgate.dev/platform/gateway-api

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3
