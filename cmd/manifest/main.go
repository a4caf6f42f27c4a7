// Command manifest is the Lambda function (the bootstrap binary for
// provided.al2023): it builds the AWS clients once and hands invocations to
// the step handler.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/allma/ddb-query-to-s3-manifest/internal/awsenv"
	"github.com/allma/ddb-query-to-s3-manifest/internal/membudget"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

func main() {
	log := awsenv.Logger()
	// A soft memory limit below the function's memory size, unless
	// GOMEMLIMIT sets one: the collector works harder rather than the
	// function running out of memory.
	if limit := membudget.SetProcessLimit(os.Getenv); limit > 0 {
		log.Debug("memory limit", "bytes", limit)
	}
	deps, err := awsenv.Deps(context.Background(), log)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(step.New(deps))
}
