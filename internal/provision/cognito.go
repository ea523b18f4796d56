package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// UserPool is the Cognito user pool of the app's users: they sign in with their email
// address, which Cognito verifies and uses for account recovery.
type UserPool struct {
	// PoolName is the pool's name, prefix included. Pools are found by name.
	PoolName string
}

var _ Resource = UserPool{}

// Kind implements Resource.
func (UserPool) Kind() string { return "cognito user pool" }

// Name implements Resource.
func (p UserPool) Name() string { return p.PoolName }

// Ensure implements Resource. It records the pool id, the issuer of its tokens and the
// URL of its signing keys.
func (p UserPool) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	ids, err := findUserPools(ctx, c.Cognito, p.PoolName)
	if err != nil {
		return Outcome{}, err
	}
	var o Outcome
	switch len(ids) {
	case 0:
		res, err := c.Cognito.CreateUserPool(ctx, p.input())
		if err != nil {
			return Outcome{}, fmt.Errorf("create user pool: %w", err)
		}
		o = Outcome{Created: true, ID: aws.ToString(res.UserPool.Id)}
	case 1:
		o = Outcome{ID: ids[0]}
	default:
		return Outcome{}, fmt.Errorf("%d user pools are named %q (%s): the tool cannot tell which to use; delete the extra ones",
			len(ids), p.PoolName, strings.Join(ids, ", "))
	}
	out.UserPoolID = o.ID
	out.Issuer = Issuer(c.Region, o.ID)
	out.JWKSURL = JWKSURL(c.cognitoEndpoint(), c.Region, o.ID)
	return o, nil
}

func (p UserPool) input() *cip.CreateUserPoolInput {
	return &cip.CreateUserPoolInput{
		PoolName:               aws.String(p.PoolName),
		UsernameAttributes:     []types.UsernameAttributeType{types.UsernameAttributeTypeEmail},
		AutoVerifiedAttributes: []types.VerifiedAttributeType{types.VerifiedAttributeTypeEmail},
		UsernameConfiguration:  &types.UsernameConfigurationType{CaseSensitive: aws.Bool(false)},
		Policies: &types.UserPoolPolicyType{PasswordPolicy: &types.PasswordPolicyType{
			MinimumLength:    aws.Int32(8),
			RequireUppercase: true,
			RequireLowercase: true,
			RequireNumbers:   true,
			// Symbols are required too: the SDK cannot send RequireSymbols=false (it
			// omits false), which AWS reads as false but moto as true. Requiring them
			// makes the policy the same in both places.
			RequireSymbols:                true,
			TemporaryPasswordValidityDays: 7,
		}},
		AccountRecoverySetting: &types.AccountRecoverySettingType{RecoveryMechanisms: []types.RecoveryOptionType{
			{Name: types.RecoveryOptionNameTypeVerifiedEmail, Priority: aws.Int32(1)},
		}},
		UserPoolTags: map[string]string{"project": "serverless-architect"},
	}
}

// findUserPools returns the ids of every pool named name.
func findUserPools(ctx context.Context, api cip.ListUserPoolsAPIClient, name string) ([]string, error) {
	var ids []string
	pages := cip.NewListUserPoolsPaginator(api, &cip.ListUserPoolsInput{MaxResults: aws.Int32(60)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list user pools: %w", err)
		}
		for _, p := range page.UserPools {
			if aws.ToString(p.Name) == name {
				ids = append(ids, aws.ToString(p.Id))
			}
		}
	}
	return ids, nil
}

// Issuer is the `iss` claim of the tokens of pool poolID: AWS's URL, also under moto.
func Issuer(region, poolID string) string {
	return "https://cognito-idp." + region + ".amazonaws.com/" + poolID
}

// JWKSURL is where pool poolID serves its signing keys: under the issuer on AWS, and
// under the endpoint override when there is one (moto serves them at
// <endpoint>/<poolId>/.well-known/jwks.json).
func JWKSURL(endpoint, region, poolID string) string {
	if endpoint != "" {
		return strings.TrimRight(endpoint, "/") + "/" + poolID + "/.well-known/jwks.json"
	}
	return Issuer(region, poolID) + "/.well-known/jwks.json"
}

// AppClient is the user pool's public app client, used by the mobile app (and the
// client CLI) to sign up and sign in. It has no secret: an app cannot keep one.
type AppClient struct {
	// ClientName is the client's name, prefix included. Clients are found by name.
	ClientName string
}

var _ Resource = AppClient{}

// Kind implements Resource.
func (AppClient) Kind() string { return "cognito app client" }

// Name implements Resource.
func (a AppClient) Name() string { return a.ClientName }

// Ensure implements Resource. It needs the user pool in out.
func (a AppClient) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.UserPoolID == "" {
		return Outcome{}, errors.New("no user pool: the user pool must be provisioned first")
	}
	ids, err := findAppClients(ctx, c.Cognito, out.UserPoolID, a.ClientName)
	if err != nil {
		return Outcome{}, err
	}
	var o Outcome
	switch len(ids) {
	case 0:
		res, err := c.Cognito.CreateUserPoolClient(ctx, a.input(out.UserPoolID))
		if err != nil {
			return Outcome{}, fmt.Errorf("create app client: %w", err)
		}
		o = Outcome{Created: true, ID: aws.ToString(res.UserPoolClient.ClientId)}
	case 1:
		o = Outcome{ID: ids[0]}
	default:
		return Outcome{}, fmt.Errorf("%d app clients of user pool %s are named %q (%s): delete the extra ones",
			len(ids), out.UserPoolID, a.ClientName, strings.Join(ids, ", "))
	}
	out.UserPoolClientID = o.ID
	return o, nil
}

func (a AppClient) input(poolID string) *cip.CreateUserPoolClientInput {
	return &cip.CreateUserPoolClientInput{
		UserPoolId:     aws.String(poolID),
		ClientName:     aws.String(a.ClientName),
		GenerateSecret: false,
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{
			types.ExplicitAuthFlowsTypeAllowUserPasswordAuth,
			types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth,
			types.ExplicitAuthFlowsTypeAllowUserSrpAuth,
		},
		// The id token carries email only if the client may read it.
		ReadAttributes:       []string{"email", "email_verified"},
		AccessTokenValidity:  aws.Int32(1),
		IdTokenValidity:      aws.Int32(1),
		RefreshTokenValidity: 30,
		TokenValidityUnits: &types.TokenValidityUnitsType{
			AccessToken:  types.TimeUnitsTypeHours,
			IdToken:      types.TimeUnitsTypeHours,
			RefreshToken: types.TimeUnitsTypeDays,
		},
		PreventUserExistenceErrors: types.PreventUserExistenceErrorTypesEnabled,
		EnableTokenRevocation:      aws.Bool(true),
	}
}

// findAppClients returns the ids of every client of pool poolID named name.
func findAppClients(ctx context.Context, api cip.ListUserPoolClientsAPIClient, poolID, name string) ([]string, error) {
	var ids []string
	pages := cip.NewListUserPoolClientsPaginator(api, &cip.ListUserPoolClientsInput{
		UserPoolId: aws.String(poolID), MaxResults: aws.Int32(60),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list app clients: %w", err)
		}
		for _, c := range page.UserPoolClients {
			if aws.ToString(c.ClientName) == name {
				ids = append(ids, aws.ToString(c.ClientId))
			}
		}
	}
	return ids, nil
}

// Group is a group of the user pool; its name appears in the `cognito:groups` claim of
// its members' tokens.
type Group struct {
	// GroupName is the group's name (unique within its pool, so not prefixed).
	GroupName string
	// Description says what membership allows.
	Description string
	// Record stores the group's name in the outputs; nil records nothing.
	Record func(out *stack.Resources, name string)
}

var _ Resource = Group{}

// Kind implements Resource.
func (Group) Kind() string { return "cognito group" }

// Name implements Resource.
func (g Group) Name() string { return g.GroupName }

// Ensure implements Resource. It needs the user pool in out.
func (g Group) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.UserPoolID == "" {
		return Outcome{}, errors.New("no user pool: the user pool must be provisioned first")
	}
	_, err := c.Cognito.GetGroup(ctx, &cip.GetGroupInput{GroupName: aws.String(g.GroupName), UserPoolId: aws.String(out.UserPoolID)})
	var notFound *types.ResourceNotFoundException
	created := false
	switch {
	case errors.As(err, &notFound):
		_, err := c.Cognito.CreateGroup(ctx, &cip.CreateGroupInput{
			GroupName:   aws.String(g.GroupName),
			UserPoolId:  aws.String(out.UserPoolID),
			Description: aws.String(g.Description),
		})
		var exists *types.GroupExistsException
		if err != nil && !errors.As(err, &exists) {
			return Outcome{}, fmt.Errorf("create group: %w", err)
		}
		created = err == nil
	case err != nil:
		return Outcome{}, fmt.Errorf("get group: %w", err)
	}
	if g.Record != nil {
		g.Record(out, g.GroupName)
	}
	return Outcome{Created: created}, nil
}
