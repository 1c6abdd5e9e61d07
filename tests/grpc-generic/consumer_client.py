#!/usr/bin/env python3
"""A generic gRPC client of Ballast's consumer service, with no Ballast code and no .proto file.

It uses only Google's grpcio, grpcio-reflection and protobuf (tests/grpc-generic/setup.sh
installs them in a venv): server reflection (grpc.reflection.v1alpha.ServerReflection) gives
the descriptors of `ballast.consumer.v1.Consumer` and of every message it uses, from which the
protobuf runtime builds the message classes. With them it calls

  GetConsumer{consumer_id}                          and prints the answer;
  SubscribeValidatorSet{consumer_id, from_update_id} reads --updates updates, then cancels.

Output, one line each (messages as protobuf's canonical JSON, field names as in the .proto:
64-bit numbers as strings, bytes as base64):

  reflection: services <full names, space-separated>
  method GetConsumer: <request type> -> <response type>
  method SubscribeValidatorSet: <request type> -> stream <response type>
  GetConsumer <JSON>
  update <JSON>                                      (once per update)
  done: <n> updates

Exit status 0 when every call answered and --updates updates arrived; 1 otherwise, with the
gRPC status code and message on stderr.

  python consumer_client.py --addr 127.0.0.1:9090 --consumer-id demo-1 --updates 2
"""

import argparse
import json
import sys

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "ballast.consumer.v1.Consumer"


def to_json(msg):
    return json.dumps(
        json_format.MessageToDict(msg, preserving_proto_field_name=True),
        sort_keys=True,
    )


def fail(what):
    print("consumer_client: " + what, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", required=True, help="host:port of the gRPC server")
    ap.add_argument("--consumer-id", required=True)
    ap.add_argument("--updates", type=int, default=1, help="updates to read (at least 1)")
    ap.add_argument("--from-update-id", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds for each call")
    args = ap.parse_args()
    if args.updates < 1:
        fail("--updates must be at least 1")

    channel = grpc.insecure_channel(args.addr)
    try:
        grpc.channel_ready_future(channel).result(timeout=args.timeout)
    except grpc.FutureTimeoutError:
        fail("cannot connect to %s within %ss" % (args.addr, args.timeout))

    # Everything below comes from the server: no generated code, no .proto file.
    db = ProtoReflectionDescriptorDatabase(channel)
    try:
        services = sorted(db.get_services())
    except grpc.RpcError as e:
        fail("server reflection failed: %s: %s" % (e.code().name, e.details()))
    print("reflection: services " + " ".join(services), flush=True)
    if SERVICE not in services:
        fail("the server does not list %s" % SERVICE)
    pool = DescriptorPool(db)
    service = pool.FindServiceByName(SERVICE)

    def method(name):
        m = service.methods_by_name.get(name)
        if m is None:
            fail("%s has no method %s" % (SERVICE, name))
        req = message_factory.GetMessageClass(m.input_type)
        resp = message_factory.GetMessageClass(m.output_type)
        print(
            "method %s: %s -> %s%s"
            % (
                name,
                m.input_type.full_name,
                "stream " if m.server_streaming else "",
                m.output_type.full_name,
            ),
            flush=True,
        )
        return m, req, resp

    _, Req, Resp = method("GetConsumer")
    get_consumer = channel.unary_unary(
        "/%s/GetConsumer" % SERVICE,
        request_serializer=Req.SerializeToString,
        response_deserializer=Resp.FromString,
    )
    m, SubReq, Update = method("SubscribeValidatorSet")
    if not m.server_streaming:
        fail("SubscribeValidatorSet is not a server stream")
    subscribe = channel.unary_stream(
        "/%s/SubscribeValidatorSet" % SERVICE,
        request_serializer=SubReq.SerializeToString,
        response_deserializer=Update.FromString,
    )

    try:
        answer = get_consumer(Req(consumer_id=args.consumer_id), timeout=args.timeout)
    except grpc.RpcError as e:
        fail("GetConsumer: %s: %s" % (e.code().name, e.details()))
    print("GetConsumer " + to_json(answer), flush=True)

    got = 0
    stream = subscribe(
        SubReq(consumer_id=args.consumer_id, from_update_id=args.from_update_id),
        timeout=args.timeout,
    )
    try:
        for update in stream:
            print("update " + to_json(update), flush=True)
            got += 1
            if got >= args.updates:
                stream.cancel()
                break
    except grpc.RpcError as e:
        fail(
            "SubscribeValidatorSet: %s: %s (after %d of %d updates)"
            % (e.code().name, e.details(), got, args.updates)
        )
    if got < args.updates:
        fail("SubscribeValidatorSet ended after %d of %d updates" % (got, args.updates))
    print("done: %d updates" % got, flush=True)
    channel.close()


if __name__ == "__main__":
    main()
