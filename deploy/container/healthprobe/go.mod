module github.com/portcullis-auth/portcullis/deploy/container/healthprobe

go 1.26.0
