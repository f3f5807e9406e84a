package main

import _ "embed"

// openAPISpec is the API contract, served at /openapi.yaml and checked by the tests.
//
//go:embed openapi.yaml
var openAPISpec []byte
