//! The SQS adapter against moto_server: batches of ten, JSON bodies, delays.

use aws_sdk_sqs::types::QueueAttributeName;
use invoicing_domain::{
    model::reconcile::{ReconcileMessage, Work},
    ports::WorkQueue,
};
use invoicing_sqs::SqsQueue;
use invoicing_test_support::MotoServer;
use std::time::Duration;

#[tokio::test]
async fn messages_arrive_as_json_in_batches_and_delays_hold_them_back() {
    let moto = MotoServer::start();
    let client = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let url = client.create_queue().queue_name("work").send().await.unwrap().queue_url.unwrap();
    let queue = SqsQueue::new(client.clone(), &url);

    let messages: Vec<ReconcileMessage> = (0..25)
        .map(|i| ReconcileMessage::new("job", "acct", Work::Invoices { invoice_ids: vec![format!("inv-{i}")] }))
        .collect();
    queue.enqueue(&messages, Duration::ZERO).await.unwrap();

    let mut received = Vec::new();
    for _ in 0..10 {
        let output = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        for message in output.messages.unwrap_or_default() {
            received.push(serde_json::from_str::<ReconcileMessage>(message.body.as_deref().unwrap()).unwrap());
        }
        if received.len() == messages.len() {
            break;
        }
    }
    received.sort_by_key(|m| serde_json::to_string(m).unwrap());
    let mut expected = messages.clone();
    expected.sort_by_key(|m| serde_json::to_string(m).unwrap());
    assert_eq!(received, expected);

    let delayed = ReconcileMessage::new("job", "acct", Work::Expand { after: None });
    queue.enqueue(std::slice::from_ref(&delayed), Duration::from_secs(120)).await.unwrap();
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes[&QueueAttributeName::ApproximateNumberOfMessagesDelayed], "1");
}
