# Multi-stage build: a static binary on a distroless base, running as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/carbon-account .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/carbon-account /usr/local/bin/carbon-account
USER nonroot:nonroot
ENV CARBON_DATA_DIR=/data PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/carbon-account"]
CMD ["serve"]
