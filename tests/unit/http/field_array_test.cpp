// field_array (src/http/field_array.hpp): a request's header fields start in
// a small pooled array, grow once to the configured limit, and go back to
// the thread's pool when the request is done.

#include "http/field_array.hpp"

#include <gtest/gtest.h>

using weft::http::detail::field_array;

TEST(field_array, starts_small_and_grows_once_to_the_limit) {
  field_array f;
  EXPECT_EQ(f.get(100).size(), field_array::first_fields);
  EXPECT_EQ(f.get(5).size(), 5u);  // never more than the limit
  EXPECT_TRUE(f.grow(100));
  EXPECT_EQ(f.get(100).size(), 100u);
  EXPECT_FALSE(f.grow(100)) << "grown already: parsing again would say the same";
  EXPECT_EQ(f.get(1000).size(), field_array::max_storage);
}

TEST(field_array, a_limit_the_small_array_holds_never_grows) {
  field_array f;
  EXPECT_EQ(f.get(10).size(), 10u);
  EXPECT_FALSE(f.grow(10));
  EXPECT_FALSE(f.grow(field_array::first_fields));
}

TEST(field_array, arrays_go_back_to_the_pool_and_a_new_request_starts_small) {
  field_array f;
  const auto* small = f.get(100).data();
  f.release();
  EXPECT_EQ(f.get(100).data(), small) << "the pooled small array is taken again";
  ASSERT_TRUE(f.grow(100));
  const auto* large = f.get(100).data();
  f.release();
  EXPECT_EQ(f.get(100).size(), field_array::first_fields);
  ASSERT_TRUE(f.grow(100));
  EXPECT_EQ(f.get(100).data(), large) << "and the pooled large one";
}
