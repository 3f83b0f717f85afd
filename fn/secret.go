package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/crossplane/function-sdk-go/resource/composed"
	corev1 "k8s.io/api/core/v1"
)

// Keys of the XMPP Secret, named after the environment variables that carry them. Prosody
// creates the accounts with these passwords and each component logs in with its own.
const (
	keyJicofoPassword        = "JICOFO_AUTH_PASSWORD"
	keyJVBPassword           = "JVB_AUTH_PASSWORD"
	keyJibriXMPPPassword     = "JIBRI_XMPP_PASSWORD"
	keyJibriRecorderPassword = "JIBRI_RECORDER_PASSWORD"
)

// secretKeys are every password the Secret holds. Jibri's are generated even while jibri is
// off, so that turning it on later does not change the Secret's existing keys.
var secretKeys = []string{keyJicofoPassword, keyJVBPassword, keyJibriXMPPPassword, keyJibriRecorderPassword}

// passwordBytes is the entropy of each password: 16 bytes, written as 32 hex characters, as
// docker-jitsi-meet's gen-passwords.sh does with `openssl rand -hex 16`.
const passwordBytes = 16

func (in *instance) secretName() string { return in.objectName("xmpp") }

// xmppSecret returns the Secret of XMPP passwords. A password that the observed Secret
// already holds is kept as it is; only missing ones are generated, from random. A function
// keeps no state between calls, so the observed Secret is the only memory of a password: a
// password that changed on every reconcile would log every component out of prosody.
func xmppSecret(in *instance, observed *composed.Unstructured, random io.Reader) (*corev1.Secret, error) {
	existing, err := observedSecretData(observed)
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{
		ObjectMeta: in.objectMeta(in.secretName(), "xmpp"),
		Type:       corev1.SecretTypeOpaque,
		Data:       make(map[string][]byte, len(secretKeys)),
	}
	for _, key := range secretKeys {
		if v, ok := existing[key]; ok && len(v) > 0 {
			s.Data[key] = v
			continue
		}
		buf := make([]byte, passwordBytes)
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, fmt.Errorf("cannot generate %s: %w", key, err)
		}
		s.Data[key] = []byte(hex.EncodeToString(buf))
	}
	return s, nil
}

// observedSecretData decodes the data of the observed Secret, if there is one.
func observedSecretData(observed *composed.Unstructured) (map[string][]byte, error) {
	if observed == nil {
		return nil, nil
	}
	data, ok := observed.Object["data"].(map[string]any)
	if !ok {
		return nil, nil
	}
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("observed Secret %s: data.%s is not a string", observed.GetName(), k)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			// Never replace a password we cannot read: that would lock components out.
			return nil, fmt.Errorf("observed Secret %s: data.%s is not base64: %w", observed.GetName(), k, err)
		}
		out[k] = b
	}
	return out, nil
}

// secretEnv is an environment variable read from the XMPP Secret.
func (in *instance) secretEnv(key string) corev1.EnvVar {
	return corev1.EnvVar{
		Name: key,
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: in.secretName()},
			Key:                  key,
		}},
	}
}
