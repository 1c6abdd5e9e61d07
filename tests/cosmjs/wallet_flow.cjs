// Ballast wallet compatibility: unmodified CosmJS (SigningStargateClient) against a node's
// CometBFT JSON-RPC. Reads an account, simulates, sends BAL with sendTokens ("auto" gas) and
// reads the new balance. Prints one JSON line; the Rust test checks it against the chain.
//
// usage: node wallet_flow.cjs <rpc url> <mnemonic> <recipient> <amount ubal>
"use strict";
const { SigningStargateClient, GasPrice } = require("@cosmjs/stargate");
const { DirectSecp256k1HdWallet } = require("@cosmjs/proto-signing");

async function main() {
  const [rpc, mnemonic, to, amount] = process.argv.slice(2);
  if (!rpc || !mnemonic || !to || !amount) {
    throw new Error("usage: wallet_flow.cjs <rpc> <mnemonic> <to> <amount>");
  }
  const wallet = await DirectSecp256k1HdWallet.fromMnemonic(mnemonic, { prefix: "ballast" });
  const [sender] = await wallet.getAccounts();
  const client = await SigningStargateClient.connectWithSigner(rpc, wallet, {
    gasPrice: GasPrice.fromString("0.025ubal"),
  });
  const chainId = await client.getChainId();
  const account = await client.getAccount(sender.address);
  if (account === null) throw new Error(`account ${sender.address} not found`);
  const senderBefore = await client.getBalance(sender.address, "ubal");
  const before = await client.getBalance(to, "ubal");
  const msg = {
    typeUrl: "/cosmos.bank.v1beta1.MsgSend",
    value: { fromAddress: sender.address, toAddress: to, amount: [{ denom: "ubal", amount }] },
  };
  const simulatedGas = await client.simulate(sender.address, [msg], "");
  const res = await client.sendTokens(sender.address, to, [{ denom: "ubal", amount }], "auto", "cosmjs");
  const after = await client.getBalance(to, "ubal");
  const senderAfter = await client.getBalance(sender.address, "ubal");
  const accountAfter = await client.getAccount(sender.address);
  const found = await client.getTx(res.transactionHash);
  console.log(
    JSON.stringify({
      chainId,
      sender: sender.address,
      accountNumber: account.accountNumber,
      sequence: account.sequence,
      sequenceAfter: accountAfter.sequence,
      simulatedGas,
      code: res.code,
      height: res.height,
      gasUsed: Number(res.gasUsed),
      gasWanted: Number(res.gasWanted),
      txhash: res.transactionHash,
      before: before.amount,
      after: after.amount,
      senderBefore: senderBefore.amount,
      senderAfter: senderAfter.amount,
      txFound: found !== null && found.code === 0,
    }),
  );
  client.disconnect();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
