package iampolicy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/filekey"
)

// PrincipalTag is the policy variable holding the session tag key of the caller
// (set by sts:AssumeRole with Tags, or by a Cognito Identity Pool's attributes for
// access control), e.g. PrincipalTag("sub") is "${aws:PrincipalTag/sub}".
func PrincipalTag(key string) string { return "${aws:PrincipalTag/" + key + "}" }

// UserTag is the session tag that names a user's folder, the user pool `sub` of the
// user: the identity pool maps the id token's sub claim to it (principal tags), and
// todo-api sets it on every session it vends.
const UserTag = "sub"

// UserFolder is a user's folder as a role's policy names it, whoever the user is:
// users/${aws:PrincipalTag/sub}/. IAM substitutes the session's tag, so one policy
// gives every user exactly their own users/<user pool sub>/, on every path.
func UserFolder() string { return filekey.UsersPrefix + PrincipalTag(UserTag) + "/" }

// ObjectActions are what a user may do with the objects of their own folder.
// s3:PutObject also covers CreateMultipartUpload, UploadPart and
// CompleteMultipartUpload; aborting is a separate action.
var objectActions = []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}

// Folder is the access of one user to their own folder of a bucket: list the folder,
// and get, put and delete objects under it, nothing else. It is the single definition
// behind every policy that grants folder access: the Cognito Identity Pool's
// authenticated role and the token-vending role (both with Prefix UserFolder()), and
// the session policy todo-api attaches to each vended session (Prefix with the
// caller's literal folder).
type Folder struct {
	// Bucket is the bucket's name.
	Bucket string
	// Prefix is the folder, ending in "/", e.g. UserFolder().
	// It may contain policy variables but no wildcards.
	Prefix string
	// Partition is the ARN partition ("aws" when empty).
	Partition string
}

// Validate reports a folder that would grant more than one folder: an empty bucket or
// prefix, a prefix not ending in "/", wildcards, or "$" outside a "${...}" variable.
func (f Folder) Validate() error {
	if f.Bucket == "" || strings.ContainsAny(f.Bucket, "/*?$") {
		return fmt.Errorf("folder bucket %q: want a bucket name", f.Bucket)
	}
	p := f.Prefix
	if p == "" || p == "/" || !strings.HasSuffix(p, "/") || strings.HasPrefix(p, "/") {
		return fmt.Errorf("folder prefix %q: want a relative path ending in /", p)
	}
	if strings.ContainsAny(p, "*?") {
		return fmt.Errorf("folder prefix %q: wildcards would widen the grant", p)
	}
	for rest := p; ; {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			break
		}
		end := strings.IndexByte(rest[i:], '}')
		if !strings.HasPrefix(rest[i:], "${") || end < 3 {
			return fmt.Errorf("folder prefix %q: %w", p, errors.New(`"$" outside a ${...} policy variable`))
		}
		rest = rest[i+end+1:]
	}
	return nil
}

func (f Folder) partition() string {
	if f.Partition == "" {
		return "aws"
	}
	return f.Partition
}

// BucketARN is the bucket's ARN.
func (f Folder) BucketARN() string { return "arn:" + f.partition() + ":s3:::" + f.Bucket }

// ObjectsARN is the ARN pattern of every object in the folder.
func (f Folder) ObjectsARN() string { return f.BucketARN() + "/" + f.Prefix + "*" }

// Statements are the folder's two statements: ListBucket on the bucket only for
// prefixes inside the folder, and object access under the folder.
func (f Folder) Statements() ([]Statement, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return []Statement{
		{
			Sid:      "ListOwnFolder",
			Effect:   Allow,
			Action:   Values{"s3:ListBucket"},
			Resource: Values{f.BucketARN()},
			Condition: Condition{"StringLike": {
				"s3:prefix": Values{f.Prefix, f.Prefix + "*"},
			}},
		},
		{
			Sid:      "ReadWriteOwnObjects",
			Effect:   Allow,
			Action:   Values(objectActions),
			Resource: Values{f.ObjectsARN()},
		},
	}, nil
}

// Document is the folder's statements as a whole policy.
func (f Folder) Document() (Document, error) {
	st, err := f.Statements()
	if err != nil {
		return Document{}, err
	}
	return New(st...), nil
}
