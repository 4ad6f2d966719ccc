# The kbind operator image: `docker build -t kbind:dev .`
# The build compiles the shipped policies to wasm32-wasip2 (crates/engine/build.rs),
# so the builder needs that target.
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kbind \
    && cp target/release/kbind /kbind

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /kbind /usr/local/bin/kbind
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kbind"]
CMD ["operator"]
