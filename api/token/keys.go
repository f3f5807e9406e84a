// Package token mints and checks the service's own access tokens: EdDSA (Ed25519)
// JWTs whose key id ("kid") names a key published at /.well-known/jwks.json.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Key is one Ed25519 key pair; Private is nil for keys only kept to verify tokens
// signed before a rotation.
type Key struct {
	ID      string
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key, a key id that
// every party can recompute from the key itself.
func thumbprint(pub ed25519.PublicKey) string {
	canonical := fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, base64.RawURLEncoding.EncodeToString(pub))
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewKey wraps an Ed25519 private key.
func NewKey(priv ed25519.PrivateKey) Key {
	pub := priv.Public().(ed25519.PublicKey)
	return Key{ID: thumbprint(pub), Public: pub, Private: priv}
}

// GenerateKeyFile writes a new Ed25519 private key as PKCS#8 PEM to path, readable
// by the owner only. It refuses to overwrite an existing file.
func GenerateKeyFile(path string) (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, fmt.Errorf("token key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("token key: %w", err)
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return Key{}, fmt.Errorf("token key: %w", err)
	}
	return NewKey(priv), f.Sync()
}

// LoadKeyFile reads a PEM file holding an Ed25519 private key (PKCS#8) or, for a
// key kept only to verify older tokens, a public key (PKIX).
func LoadKeyFile(path string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("token key %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return Key{}, fmt.Errorf("token key %s: no PEM block", path)
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return Key{}, fmt.Errorf("token key %s: %w", path, err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return Key{}, fmt.Errorf("token key %s: not an Ed25519 key", path)
		}
		return NewKey(priv), nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return Key{}, fmt.Errorf("token key %s: %w", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return Key{}, fmt.Errorf("token key %s: not an Ed25519 key", path)
		}
		return Key{ID: thumbprint(pub), Public: pub}, nil
	default:
		return Key{}, fmt.Errorf("token key %s: unexpected PEM block %q", path, block.Type)
	}
}

// LoadOrGenerateKeyFile loads the key at path, creating it first if it does not exist
// (embedded mode keeps its key in the data directory).
func LoadOrGenerateKeyFile(path string) (Key, bool, error) {
	k, err := LoadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = GenerateKeyFile(path)
		return k, err == nil, err
	}
	return k, false, err
}
