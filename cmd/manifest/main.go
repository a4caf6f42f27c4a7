// Command manifest is the Lambda function (the bootstrap binary for
// provided.al2023): it builds the AWS clients once and hands invocations to
// the step handler.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/allma/ddb-query-to-s3-manifest/internal/awsenv"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

func main() {
	log := awsenv.Logger()
	deps, err := awsenv.Deps(context.Background(), log)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(step.New(deps))
}
