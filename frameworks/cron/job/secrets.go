package job

import (
	"maps"

	"agora/core/mesos"
)

// Masked returns a copy of j with every secret value replaced by
// mesos.SecretMask: the only form an API answer may show. j is not
// changed; a nil j gives nil.
func (j *Job) Masked() *Job {
	if j == nil {
		return nil
	}
	cp := *j
	if len(j.Run.Secrets) > 0 {
		cp.Run.Secrets = make(map[string]Secret, len(j.Run.Secrets))
		for k, s := range j.Run.Secrets {
			if s.Value != "" {
				s.Value = mesos.SecretMask
			}
			cp.Run.Secrets[k] = s
		}
	}
	return &cp
}

// KeepMaskedSecrets gives every secret of j whose value is the mask the
// value of the same secret in cur (the stored job), so that a job read from
// the API and sent back keeps its secrets. A masked secret cur does not
// have is an error at /run/secrets/<name>/value. j is changed in place
// (its secrets map is replaced, not written into, as a caller may share
// it); on error j is unchanged.
func (j *Job) KeepMaskedSecrets(cur *Job) FieldErrors {
	var errs FieldErrors
	var kept map[string]Secret
	for _, name := range sortedKeys(j.Run.Secrets) {
		if j.Run.Secrets[name].Value != mesos.SecretMask {
			continue
		}
		var old Secret
		if cur != nil {
			old = cur.Run.Secrets[name]
		}
		if old.Value == "" || old.Value == mesos.SecretMask {
			errs.add("/run/secrets/"+pointer(name)+"/value", "is the mask %s but no stored value of secret %q exists to keep; give its value", mesos.SecretMask, name)
			continue
		}
		if kept == nil {
			kept = maps.Clone(j.Run.Secrets)
		}
		kept[name] = old
	}
	if errs != nil {
		return errs
	}
	if kept != nil {
		j.Run.Secrets = kept
	}
	return nil
}
